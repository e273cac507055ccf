"""A node that is off: behind a gateway, then reached directly; a key the host does
not know. apssh users catch asyncssh's or the OS's exceptions."""

import os

import asyncssh

from jobgraph.compat.asynciojobs import Scheduler
from jobgraph_ssh.compat.apssh import HostFormatter, SshJob, SshNode, load_private_keys

HOST = os.environ.get("APSSH_HOST", "127.0.0.1")
PORTS = [int(port) for port in os.environ["APSSH_PORTS"].split(",")]
OFF = int(os.environ["APSSH_OFF_PORT"])
KEYS = load_private_keys([os.environ["APSSH_KEY"]])
USER = os.environ.get("APSSH_USER", "tester")

gateway = SshNode(HOST, port=PORTS[0], username=USER, keys=KEYS, formatter=HostFormatter())
behind = SshNode(HOST, port=OFF, username=USER, keys=KEYS, gateway=gateway,
                 formatter=HostFormatter())  # fmt: skip
direct = SshNode(HOST, port=OFF, username=USER, keys=KEYS, formatter=HostFormatter())

# a critical scheduler raises the job's exception
try:
    print("ok", Scheduler(SshJob(behind, command="echo never")).run())
except asyncssh.Error as exc:
    print("asyncssh.Error", type(exc).__name__, exc)

# a key the host does not know: the connection is made, then refused
stranger = SshNode(HOST, port=PORTS[0], username=USER, formatter=HostFormatter(),
                   keys=[asyncssh.generate_private_key("ssh-ed25519")])  # fmt: skip
try:
    print("ok", Scheduler(SshJob(stranger, command="echo never")).run())
except asyncssh.Error as exc:
    print("asyncssh.Error", type(exc).__name__, exc)

# a scheduler that is not critical returns False; the job keeps its exception
job = SshJob(direct, command="echo never")
scheduler = Scheduler(job, critical=False)
print("ok", scheduler.run())
exc = job.raised_exception()
print("OSError" if isinstance(exc, OSError) else "other", type(exc).__name__, exc)
scheduler.list()
