"""A remote service started, checked and stopped through systemd-run / systemctl."""

import asyncio
import os

from jobgraph.compat.asynciojobs import Scheduler, Sequence
from jobgraph_ssh.compat.apssh import (
    HostFormatter,
    Run,
    Service,
    SshJob,
    SshNode,
    co_close_ssh_in_scheduler,
    load_private_keys,
)

HOST = os.environ.get("APSSH_HOST", "127.0.0.1")
PORTS = [int(port) for port in os.environ["APSSH_PORTS"].split(",")]
KEYS = load_private_keys([os.environ["APSSH_KEY"]])
USER = os.environ.get("APSSH_USER", "tester")

node = SshNode(
    HOST, port=PORTS[0], username=USER, keys=KEYS, formatter=HostFormatter(verbose=False)
)
service = Service(
    "sh -c 'echo started as $WHO > service.out; sleep 30'",
    service_id="demo-sleep",
    environ={"WHO": "tester"},
)
scheduler = Scheduler(
    Sequence(
        SshJob(
            node,
            commands=[
                service.start_command(),
                Run(
                    "for i in $(seq 100); do [ -s service.out ] && break; sleep 0.05; done;",
                    "cat service.out",
                ),
            ],
        ),
        SshJob(node, commands=service.status_command(output="status.txt")),
        SshJob(node, commands=[Run("cat status.txt"), service.stop_command()]),
        SshJob(node, commands=service.status_command(), critical=False),
    )
)


async def main() -> bool:
    try:
        return await scheduler.co_run()
    finally:
        await co_close_ssh_in_scheduler(scheduler)


ok = asyncio.run(main())
print("ok", ok)
