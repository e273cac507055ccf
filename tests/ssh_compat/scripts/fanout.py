"""Fan-out: the same commands on every host, at most two jobs at a time."""

import asyncio
import os
import sys
import time

from jobgraph.compat.asynciojobs import Scheduler
from jobgraph_ssh.compat.apssh import (
    HostFormatter,
    Run,
    SshJob,
    SshNode,
    co_close_ssh_in_scheduler,
    load_private_keys,
)

HOST = os.environ.get("APSSH_HOST", "127.0.0.1")
PORTS = [int(port) for port in os.environ["APSSH_PORTS"].split(",")]
KEYS = load_private_keys([os.environ["APSSH_KEY"]])
USER = os.environ.get("APSSH_USER", "tester")

formatter = HostFormatter(verbose=False)
nodes = [SshNode(HOST, port=port, username=USER, keys=KEYS, formatter=formatter) for port in PORTS]
scheduler = Scheduler(jobs_window=2)
for index, node in enumerate(nodes):
    SshJob(
        node,
        commands=[
            Run("echo job", index, "on port", node.port),
            Run("sleep 0.3; echo slept", index),
            Run("echo", "globbed:", "*.none", "|", "tr a-z A-Z"),
        ],
        label=f"fan {index}",
        scheduler=scheduler,
    )
failing = SshJob(
    nodes[0], commands=[Run("exit 3"), Run("echo after")], critical=False, scheduler=scheduler
)
begin = time.monotonic()


async def main() -> bool:
    try:
        return await scheduler.co_run()
    finally:
        await co_close_ssh_in_scheduler(scheduler)


ok = asyncio.run(main())
elapsed = time.monotonic() - begin
print("ok", ok)
print("failing result", failing.result())
# 4 sleepy jobs, 2 at a time: at least two rounds of 0.3 s
print("windowed", elapsed >= 0.6)
sys.exit(0 if ok else 1)
