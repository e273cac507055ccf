"""Files and a directory pushed to a node, pulled back, compared."""

import asyncio
import filecmp
import os
import tempfile
from pathlib import Path

from jobgraph.compat.asynciojobs import Scheduler, Sequence
from jobgraph_ssh.compat.apssh import (
    HostFormatter,
    Pull,
    Push,
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

local = Path(tempfile.mkdtemp())
(local / "small.txt").write_text("some text\n")
(local / "big.bin").write_bytes(os.urandom(300_000))
back = local / "back"
back.mkdir()
remote = Path(tempfile.mkdtemp()) / "remote"
node = SshNode(
    HOST, port=PORTS[0], username=USER, keys=KEYS, formatter=HostFormatter(verbose=False)
)
scheduler = Scheduler(
    Sequence(
        SshJob(
            node,
            commands=[
                Run("mkdir -p", remote),
                Push([str(local / "small.txt"), str(local / "big.bin")], str(remote)),
            ],
        ),
        SshJob(
            node,
            commands=[
                Run("ls", remote, "| sort"),
                Pull([f"{remote}/small.txt", f"{remote}/big.bin"], str(back)),
            ],
        ),
    )
)


async def main() -> bool:
    try:
        return await scheduler.co_run()
    finally:
        await co_close_ssh_in_scheduler(scheduler)


ok = asyncio.run(main())
print("ok", ok)
for name in ("small.txt", "big.bin"):
    print(name, "same" if filecmp.cmp(local / name, back / name, shallow=False) else "DIFFERENT")
