"""SshNode(debug=True): apssh's traces of the connection and of each command."""

import os

from jobgraph.compat.asynciojobs import Scheduler
from jobgraph_ssh.compat.apssh import (
    HostFormatter,
    Pull,
    Push,
    Run,
    SshJob,
    SshNode,
    load_private_keys,
)

HOST = os.environ.get("APSSH_HOST", "127.0.0.1")
PORTS = [int(port) for port in os.environ["APSSH_PORTS"].split(",")]
KEYS = load_private_keys([os.environ["APSSH_KEY"]])
USER = os.environ.get("APSSH_USER", "tester")

with open("sent.txt", "w") as sent:
    sent.write("sent\n")
node = SshNode(HOST, port=PORTS[0], username=USER, keys=KEYS, debug=True,
               formatter=HostFormatter(verbose=False))  # fmt: skip
job = SshJob(node, commands=[
    Run("echo one"),
    Run("exit 3", allowed_exits=[3]),
    Push(["sent.txt"], "."),
    Pull(["sent.txt"], "back"),
])  # fmt: skip
print("ok", Scheduler(job).run())
