"""The public surface: exported names, the synchronous entry, sequences."""

from __future__ import annotations

import inspect

import anyio
import pytest

import jobgraph as jg

EXPECTED = {
    "AbstractJob",
    "CriticalJobError",
    "CycleError",
    "EventKind",
    "GraphError",
    "InvalidOptionError",
    "Job",
    "JobDefinitionError",
    "JobEvent",
    "JobGraphError",
    "JobRecord",
    "JobState",
    "JobTimeoutError",
    "OnFailedRequirement",
    "OwnershipError",
    "Progress",
    "Retry",
    "RunStateError",
    "Scheduler",
    "SchedulerTimeoutError",
    "Sequence",
    "Subscriber",
    "TaskStatusLike",
    "UnknownRequirementError",
    "__version__",
    "run",
}


def test_public_names_are_exactly_all() -> None:
    public = {name for name in dir(jg) if not name.startswith("_")} - {
        name for name in dir(jg) if inspect.ismodule(getattr(jg, name))
    }
    assert set(jg.__all__) >= EXPECTED
    assert public | {"__version__"} == set(jg.__all__)


async def double(x: int) -> int:
    await anyio.sleep(0.001)
    return 2 * x


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sync_run_on_each_backend(backend: str) -> None:
    a = jg.Job(double, 1)
    b = jg.Job(double, 2, requires=a)
    scheduler = jg.Scheduler(a, b)
    assert jg.run(scheduler, backend=backend) is True
    assert (a.result(), b.result()) == (2, 4)
    scheduler.reset()
    assert jg.run(scheduler, backend=backend) is True


def test_sync_run_reports_failure_as_false() -> None:
    async def bad() -> None:
        raise OSError("down")

    scheduler = jg.Scheduler(jg.Job(bad, label="bad"))
    assert jg.run(scheduler) is False
    assert "critical job 'bad'" in scheduler.why()


def test_keyword_arguments_reach_the_function() -> None:
    async def greet(name: str, *, punctuation: str) -> str:
        return f"hello {name}{punctuation}"

    job = jg.Job(greet, "you", kwargs={"punctuation": "!"})
    assert jg.run(jg.Scheduler(job))
    assert job.result() == "hello you!"
    assert job.label == "test_keyword_arguments_reach_the_function.<locals>.greet"


def test_sequences_chain_and_nest() -> None:
    a, b, c, d, e = (jg.Job(double, i, label=str(i)) for i in range(5))
    inner = jg.Sequence(b, c)
    seq = jg.Sequence(a, inner, d)
    assert seq.jobs == (a, b, c, d)
    assert b.requirements == (a,) and d.requirements == (c,)
    e.requires(seq)  # a sequence counts as its last job
    assert e.requirements == (d,)
    head = jg.Job(double, 9, label="head")
    seq.requires(head)  # ... and gives requirements to its first job
    assert a.requirements == (head,)
    seq.append(e)
    assert len(seq) == 5
    scheduler = jg.Scheduler(seq, head)
    assert set(scheduler.jobs) == {a, b, c, d, e, head}
    assert jg.run(scheduler)
    order = sorted(scheduler.jobs, key=lambda job: job.started_at or 0)
    assert order == [head, a, b, c, d, e]


def test_empty_sequence_and_none_requirements_are_harmless() -> None:
    job = jg.Job(double, 1, requires=[None, jg.Sequence(), [[None]]])
    assert job.requirements == ()
    assert jg.run(jg.Scheduler(job, jg.Sequence()))


def test_requirements_accept_nested_iterables() -> None:
    j1, j2, j3, j4 = (jg.Job(double, i) for i in range(4))
    j1.requires(([j2], [[[j3]]]), None, (j4,))
    assert j1.requirements == (j2, j3, j4)
    j1.requires([j2, j3], remove=True)
    assert list(j1.requirements) == [j4]
    with pytest.raises(KeyError):
        j1.requires(j2, remove=True)


def test_empty_scheduler_succeeds() -> None:
    scheduler = jg.Scheduler()
    assert scheduler and len(scheduler) == 0  # truthy although empty
    assert jg.run(scheduler, backend="trio")
