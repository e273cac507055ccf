"""A pipeline written for asynciojobs: a monitor (forever job) prints what the steps
post on a message bus; a reusable nested scheduler downloads in a window of 2; a flaky
non-critical check fails without stopping the pipeline.

Only the import line differs from the asynciojobs version of this script.
"""

import asyncio
import time

from jobgraph.compat.asynciojobs import Job, Scheduler, Sequence

bus = asyncio.Queue()


async def monitor(bus):
    while True:
        message = await bus.get()
        print("MONITOR:", message)


async def step(name, delay, result):
    await bus.put(f"start {name}")
    await asyncio.sleep(delay)
    await bus.put(f"end {name}")
    return result


async def download(index):
    await asyncio.sleep(0.1)
    return index * index


async def flaky():
    await asyncio.sleep(0.05)
    await bus.put("check is about to fail")
    raise RuntimeError("checksum mismatch")


def make_downloads(count):
    """A piece of workflow that can be reused: at most 2 downloads at a time."""
    downloads = Scheduler(jobs_window=2, label="downloads")
    for index in range(count):
        Job(download(index), label=f"download {index}", scheduler=downloads)
    return downloads


prepare = Job(step("prepare", 0.05, "ready"), label="prepare")
downloads = make_downloads(4)
check = Job(flaky(), label="check", critical=False)
report = Job(step("report", 0.05, "sent"), label="report")
watcher = Job(monitor(bus), forever=True, label="monitor")

main = Scheduler(Sequence(prepare, downloads, check, report), watcher, critical=False)
print(main)
print("no cycles:", main.check_cycles())

begin = time.time()
ok = main.run()
print("run() returned", ok, "-", main.why())

for job in (prepare, check, report):
    print(
        f"{job.label}: done={job.is_done()} running={job.is_running()}"
        f" result={job.result()!r} exception={job.raised_exception()!r}"
    )
print(f"monitor: done={watcher.is_done()} running={watcher.is_running()}")
print("downloads result:", downloads.result(), sorted(job.result() for job in downloads.jobs))
# 4 downloads of 0.1s, 2 at a time, plus 0.05s steps around them: about 0.3s
print("whole run took between 0.3s and 1s:", 0.3 <= time.time() - begin < 1)
print(main)
print(main.stats())
