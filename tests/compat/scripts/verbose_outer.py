"""A verbose scheduler holding a quiet nested one: asynciojobs tells of the outer
scheduler's jobs only, each STARTING line with the idle flag; then one holding a
verbose nested one, which tells of its own jobs.

Only the import line differs from the asynciojobs version of this script.
"""

import asyncio

from jobgraph.compat.asynciojobs import Job, Scheduler, Sequence


async def work(value):
    await asyncio.sleep(0.01)
    return value


inner = Scheduler(Sequence(Job(work(1), label="inside"), Job(work(2), label="then")), label="quiet")
outer = Scheduler(
    Sequence(Job(work(0), label="first"), inner, Job(work(3), label="last")), verbose=True
)
print(outer.run())
outer.list()

# a verbose nested scheduler tells of its own jobs, numbered from 1 as it runs
talkative = Scheduler(
    Sequence(Job(work(4), label="inside"), Job(work(5), label="then")),
    label="talkative",
    verbose=True,
)
outer = Scheduler(
    Sequence(Job(work(0), label="first"), talkative, Job(work(6), label="last")), verbose=True
)
print(outer.run())
outer.list()
