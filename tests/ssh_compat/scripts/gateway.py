"""Two hops: a gateway, and a node reached through it; the topology of the scheduler."""

import asyncio
import os

from jobgraph.compat.asynciojobs import Scheduler, Sequence
from jobgraph_ssh.compat.apssh import (
    HostFormatter,
    Run,
    SshJob,
    SshNode,
    co_close_ssh_in_scheduler,
    load_private_keys,
    topology_dot,
)

HOST = os.environ.get("APSSH_HOST", "127.0.0.1")
PORTS = [int(port) for port in os.environ["APSSH_PORTS"].split(",")]
KEYS = load_private_keys([os.environ["APSSH_KEY"]])
USER = os.environ.get("APSSH_USER", "tester")

formatter = HostFormatter(verbose=False)
gateway = SshNode(HOST, port=PORTS[0], username=USER, keys=KEYS, formatter=formatter)
inner = SshNode(HOST, port=PORTS[1], username=USER, keys=KEYS, gateway=gateway, formatter=formatter)
print("distances", gateway.distance(), inner.distance())
scheduler = Scheduler(
    Sequence(
        SshJob(gateway, command="echo on the gateway"),
        SshJob(inner, command=["echo", "behind", "the", "gateway"]),
        SshJob(inner, commands=Run("echo $((6 * 7))")),
    )
)
dot = topology_dot(scheduler)
print("edges", dot.count("->"))


async def main() -> bool:
    try:
        return await scheduler.co_run()
    finally:
        await co_close_ssh_in_scheduler(scheduler)


ok = asyncio.run(main())
print("ok", ok)
