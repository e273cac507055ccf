"""Random graphs of jobs run by asynciojobs and by the compat layer end the same way.

Each case is a random acyclic graph of jobs that sleep, then return or raise
(critically or not). The test computes when each job would end; cases where two
endings are closer than ``GAP`` seconds are skipped, since their order would then
depend on timing noise. On the others, every job must end in the same state, with
the same result or exception, and the runs must return the same thing.
Skipped as a whole when asynciojobs is not installed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import random
from dataclasses import dataclass
from typing import Any

import pytest

from jobgraph.compat import asynciojobs as compat

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("asynciojobs") is None, reason="asynciojobs is not installed"
)

GAP = 0.04
DURATIONS = (0.04, 0.09, 0.14)


@dataclass
class Plan:
    durations: list[float]
    behaviours: list[str]  # "ok", "critical" (raises, critical), "soft" (raises)
    edges: list[tuple[int, int]]  # (job, requirement), requirement < job

    def endings(self) -> list[float] | None:
        """When each job would end if nothing aborted the run (None: too close to call)."""
        ends: list[float] = []
        for index, duration in enumerate(self.durations):
            start = max((ends[r] for j, r in self.edges if j == index), default=0.0)
            ends.append(start + duration)
        ordered = sorted(ends)
        if any(b - a < GAP for a, b in itertools.pairwise(ordered)):
            return None
        return ends


def make_plan(rng: random.Random) -> Plan:
    size = rng.randint(2, 6)
    return Plan(
        durations=[rng.choice(DURATIONS) for _ in range(size)],
        behaviours=[rng.choices(["ok", "critical", "soft"], [5, 2, 2])[0] for _ in range(size)],
        edges=[(j, r) for j in range(size) for r in range(j) if rng.random() < 0.35],
    )


async def work(index: int, duration: float, behaviour: str) -> str:
    await asyncio.sleep(duration)
    if behaviour != "ok":
        raise RuntimeError(f"job {index} failed")
    return f"job {index} ok"


def run_plan(module: Any, plan: Plan) -> tuple[Any, list[tuple[Any, ...]]]:
    jobs = [
        module.Job(
            work(index, duration, behaviour),
            label=str(index),
            critical=behaviour != "soft",
        )
        for index, (duration, behaviour) in enumerate(
            zip(plan.durations, plan.behaviours, strict=True)
        )
    ]
    for job, requirement in plan.edges:
        jobs[job].requires(jobs[requirement])
    scheduler = module.Scheduler(*jobs, critical=False)
    outcome = (scheduler.run(), scheduler.failed_critical())
    states = []
    for job in jobs:
        exception = job.raised_exception()
        states.append(
            (
                job.is_idle(),
                job.is_running(),
                job.is_done(),
                repr(exception) if exception else None,
                job.result() if job.is_done() else None,
            )
        )
        if hasattr(job, "close"):
            job.close()
    return outcome, states


def plans() -> list[tuple[int, Plan]]:
    chosen: list[tuple[int, Plan]] = []
    seed = 0
    while len(chosen) < 10:
        plan = make_plan(random.Random(seed))
        if plan.endings() is not None:
            chosen.append((seed, plan))
        seed += 1
    return chosen


@pytest.mark.parametrize(("seed", "plan"), plans(), ids=lambda value: str(value)[:12])
def test_random_graph_ends_as_with_asynciojobs(
    seed: int, plan: Plan, capsys: pytest.CaptureFixture[str]
) -> None:
    import asynciojobs

    del seed
    theirs = run_plan(asynciojobs, plan)
    ours = run_plan(compat, plan)
    assert ours == theirs
    out = capsys.readouterr().out.splitlines()
    # both print the same messages (an emergency exit, or nothing), clock aside
    assert len(out) % 2 == 0
    half = len(out) // 2
    assert [line[13:] for line in out[:half]] == [line[13:] for line in out[half:]]
