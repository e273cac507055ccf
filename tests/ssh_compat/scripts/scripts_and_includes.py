"""RunScript with includes, RunString with a remote name, arguments joined with spaces."""

import asyncio
import os
import tempfile
from pathlib import Path

from jobgraph.compat.asynciojobs import Scheduler
from jobgraph_ssh.compat.apssh import (
    RawFormatter,
    RunScript,
    RunString,
    SshJob,
    SshNode,
    co_close_ssh_in_scheduler,
    load_private_keys,
)

HOST = os.environ.get("APSSH_HOST", "127.0.0.1")
PORTS = [int(port) for port in os.environ["APSSH_PORTS"].split(",")]
KEYS = load_private_keys([os.environ["APSSH_KEY"]])
USER = os.environ.get("APSSH_USER", "tester")

here = Path(tempfile.mkdtemp())
(here / "lib.sh").write_text('greet() { echo "hello $1"; }\n')
script = here / "main.sh"
script.write_text('#!/bin/sh\n. "$(dirname "$0")/lib.sh"\nfor arg in "$@"; do greet "$arg"; done\n')
script.chmod(0o755)

node = SshNode(HOST, port=PORTS[0], username=USER, keys=KEYS, formatter=RawFormatter(verbose=False))
body = '#!/bin/sh\necho "$# args: $*"\nexit $1\n'
scheduler = Scheduler()
SshJob(
    node,
    commands=[
        RunScript(str(script), "alice", "bob carol", includes=[str(here / "lib.sh")]),
        RunString(body, 0, "two words", remote_name="count-args.sh"),
        RunString(body, 5, label="allowed five", allowed_exits=[5]),
    ],
    scheduler=scheduler,
)


async def main() -> bool:
    try:
        return await scheduler.co_run()
    finally:
        await co_close_ssh_in_scheduler(scheduler)


ok = asyncio.run(main())
print("ok", ok)
