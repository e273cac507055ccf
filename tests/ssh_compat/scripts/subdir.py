"""Each host's output in a file of its own (SubdirFormatter)."""

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from jobgraph.compat.asynciojobs import Scheduler
from jobgraph_ssh.compat.apssh import (
    Run,
    SshJob,
    SshNode,
    co_close_ssh_in_scheduler,
    load_private_keys,
)
from jobgraph_ssh.compat.apssh.formatters import SubdirFormatter

HOST = os.environ.get("APSSH_HOST", "127.0.0.1")
PORTS = [int(port) for port in os.environ["APSSH_PORTS"].split(",")]
KEYS = load_private_keys([os.environ["APSSH_KEY"]])
USER = os.environ.get("APSSH_USER", "tester")

run_name = Path(tempfile.mkdtemp()) / "outputs"
formatter = SubdirFormatter(str(run_name), verbose=False)
scheduler = Scheduler()
for port in PORTS[:2]:
    node = SshNode(HOST, port=port, username=USER, keys=KEYS, formatter=formatter)
    SshJob(
        node, commands=[Run("echo one from", port), Run("echo two from", port)], scheduler=scheduler
    )


async def main() -> bool:
    try:
        return await scheduler.co_run()
    finally:
        await co_close_ssh_in_scheduler(scheduler)


ok = asyncio.run(main())
print("ok", ok)
for path in sorted(run_name.iterdir()):
    lines = sorted(path.read_text().splitlines())
    print(path.name, lines)
sys.exit(0 if ok else 1)
