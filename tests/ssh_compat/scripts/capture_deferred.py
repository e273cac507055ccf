"""A command's output captured into a variable, used by later commands (jinja2)."""

import asyncio
import os

from jobgraph.compat.asynciojobs import Scheduler, Sequence
from jobgraph_ssh.compat.apssh import (
    Capture,
    CaptureFormatter,
    Deferred,
    Run,
    SshJob,
    SshNode,
    Variables,
    co_close_ssh_in_scheduler,
    load_private_keys,
)

HOST = os.environ.get("APSSH_HOST", "127.0.0.1")
PORTS = [int(port) for port in os.environ["APSSH_PORTS"].split(",")]
KEYS = load_private_keys([os.environ["APSSH_KEY"]])
USER = os.environ.get("APSSH_USER", "tester")

env = Variables()
captured = CaptureFormatter(verbose=False)
first = SshNode(HOST, port=PORTS[0], username=USER, keys=KEYS, formatter=captured)
second = SshNode(HOST, port=PORTS[1], username=USER, keys=KEYS, formatter=captured)
template = Deferred("echo the pod is {{pod}}", env)
scheduler = Scheduler(
    Sequence(
        SshJob(first, command=Run("echo pod-1234", capture=Capture("pod", env))),
        SshJob(first, command=Run("echo", 6, "x", 7, capture=Capture("product", env))),
        SshJob(second, command=Run(template)),
        SshJob(
            second, command=Run(template.dup_from_string("echo {{pod | upper}} and {{product}}"))
        ),
    )
)
captured.start_capture()


async def main() -> bool:
    try:
        return await scheduler.co_run()
    finally:
        await co_close_ssh_in_scheduler(scheduler)


ok = asyncio.run(main())
print("variables", env.pod, env["product"])
print("capture", repr(captured.get_capture()))
print("ok", ok)
