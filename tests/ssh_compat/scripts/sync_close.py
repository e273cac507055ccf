"""The synchronous style: scheduler.run(), then close_ssh_in_scheduler(), timed."""

import os
import time

from jobgraph.compat.asynciojobs import Scheduler
from jobgraph_ssh.compat.apssh import (
    HostFormatter,
    Run,
    RunString,
    SshJob,
    SshNode,
    close_ssh_in_scheduler,
    load_private_keys,
)

HOST = os.environ.get("APSSH_HOST", "127.0.0.1")
PORTS = [int(port) for port in os.environ["APSSH_PORTS"].split(",")]
KEYS = load_private_keys([os.environ["APSSH_KEY"]])
USER = os.environ.get("APSSH_USER", "tester")

gateway = SshNode(
    HOST, port=PORTS[0], username=USER, keys=KEYS, formatter=HostFormatter(verbose=False)
)
inner = SshNode(
    HOST,
    port=PORTS[1],
    username=USER,
    keys=KEYS,
    gateway=gateway,
    formatter=HostFormatter(verbose=False),
)
scheduler = Scheduler(
    SshJob(gateway, command=Run("echo direct")),
    SshJob(inner, command=RunString("#!/bin/sh\necho through sftp and gateway\n")),
)
print("ok", scheduler.run(), flush=True)
begin = time.monotonic()
close_ssh_in_scheduler(scheduler)
print(f"closed in {time.monotonic() - begin:.1f} s")
