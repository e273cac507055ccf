"""A deployment written for asynciojobs, with its own job class (as apssh's SshJob):
critical and non-critical failures, a nested scheduler that times out, a pure
scheduler, standalone_run(), and several runs in one process.

Only the import line differs from the asynciojobs version of this script.
"""

import asyncio

from jobgraph.compat.asynciojobs import AbstractJob, PrintJob, PureScheduler, Scheduler, Sequence

closed = []


class Command(AbstractJob):
    """Pretends to run a command on a remote node."""

    def __init__(self, node, command, *, duration=0.05, status=0, **kwds):
        self.node = node
        self.command = command
        self.duration = duration
        self.status = status
        super().__init__(**kwds)

    def text_label(self):
        return f"{self.node}: {self.command}"

    async def co_run(self):
        await asyncio.sleep(self.duration)
        print(f"[{self.node}] {self.command} -> {self.status}")
        if self.status != 0:
            raise RuntimeError(f"{self.command!r} failed on {self.node} with {self.status}")
        return self.status

    async def co_shutdown(self):
        closed.append(self.node)


print("== 1. a critical failure stops the chain")
install = Sequence(
    Command("node1", "apt update"),
    Command("node1", "apt install nginx", status=100),
    Command("node1", "systemctl start nginx"),
)
deploy = Scheduler(install)
try:
    deploy.run()
except RuntimeError as exc:
    print("deploy raised:", exc)
print("failed_critical:", deploy.failed_critical(), "/ why:", deploy.why())
for job in install.jobs:
    print(repr(job))
deploy.list()
print("closed:", sorted(closed))
closed.clear()

print("== 2. a slow nested scheduler times out, the rest goes on")
slow = Scheduler(
    Command("node2", "long backup", duration=2), timeout=0.1, critical=False, label="backup"
)
after = Command("node2", "cleanup", required=slow)
outer = Scheduler(slow, after, PrintJob("outer runs too", label="note"))
print("outer.run():", outer.run())
print(
    "backup result:",
    slow.result(),
    "/ timed out:",
    bool(slow.failed_time_out()),
    "/ why:",
    slow.why(),
)
print("cleanup result:", after.result())
print("closed:", sorted(closed))
closed.clear()

print("== 3. a critical nested scheduler times out: TimeoutError at the top")
strict = Scheduler(Command("node3", "migrate db", duration=2), timeout=0.1, label="strict")
top = Scheduler(Sequence(Command("node3", "stop app"), strict, Command("node3", "start app")))
try:
    top.run()
except TimeoutError:
    print("top raised a TimeoutError")
print("strict exception is a TimeoutError:", isinstance(strict.raised_exception(), TimeoutError))

print("== 4. a pure scheduler never raises")
pure = PureScheduler(Command("node4", "false", status=1), timeout=1)
print("pure.run():", pure.run(), "/", pure.why(), "/", pure.stats())

print("== 5. one job on its own, then one more scheduler in the same process")
print("standalone:", Command("node5", "uptime").standalone_run())
again = Scheduler(Command("node5", "echo again"), Command("node6", "echo again", duration=0.1))
print("again.run():", again.run())
print("closed:", sorted(closed))
