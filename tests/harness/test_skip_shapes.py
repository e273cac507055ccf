"""The oracle on graphs drawn to be dense in skip policies and failures.

``graphs()`` draws every feature at once, so a job with several requirements, one of
which fails before the others succeed, followed by more skip-policy jobs, is a rare
draw: a bug in how a skip is passed on (missed when the *last* requirement to end
succeeded) went through the ``dev`` profile twice and only the ``ci`` profile found
it. Here every job fails or succeeds after a few milliseconds, most jobs require two
or three earlier ones, and two thirds of them have the ``skip`` policy, so that the
``dev`` profile meets such shapes in every run; the explicit examples are the shapes
that found bugs.
"""

from __future__ import annotations

import itertools
from typing import TypeVar

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from jobgraph.testing import (
    Behaviour,
    JobSpec,
    Node,
    Raise,
    Return,
    SchedulerSpec,
    assert_valid,
    backends_for_profile,
    run_graph,
)

BACKENDS = backends_for_profile()
T = TypeVar("T")

_FAST = (0.0, 0.001, 0.002)
_SLOW = (0.002, 0.005, 0.01)


@st.composite
def skip_graphs(draw: st.DrawFn, *, max_jobs: int = 8) -> SchedulerSpec:
    """A top scheduler of non-critical jobs: a source that fails early, one that
    succeeds later, maybe a third, then 2 to ``max_jobs`` jobs that mostly require two
    or three earlier ones and mostly have the skip policy; some of these are nested
    schedulers holding a chain of their own.

    Choices are drawn as integers: hypothesis may switch off whole options of
    ``sampled_from`` and ``booleans`` for a run (swarm testing), which would leave out
    the failing jobs or the skip policy for all the examples of that run.
    """
    names = itertools.count(1)

    def pick(options: tuple[T, ...]) -> T:
        return options[draw(st.integers(0, len(options) - 1))]

    def job(behaviour: Behaviour, requires: tuple[int, ...] = (), policy: str = "run") -> JobSpec:
        return JobSpec(f"j{next(names)}", behaviour, requires, on_failed_requirement=policy)

    def requirements(index: int) -> tuple[int, ...]:
        least = 1 if pick((0, 1, 1, 1)) == 0 else min(index, 2)
        return tuple(sorted(draw(st.sets(st.integers(0, index - 1), min_size=least, max_size=3))))

    def consumers(first: int, count: int, depth: int) -> list[Node]:
        made: list[Node] = []
        for index in range(first, first + count):
            requires = requirements(index) if index else ()
            policy = pick(("skip", "skip", "skip", "run"))
            if depth == 0 and pick((0, 1, 2, 3, 4)) == 0:
                inner: list[Node] = []
                if pick((0, 1)):
                    inner.append(job(Raise(pick(_FAST))))
                inner += consumers(len(inner), pick((1, 2, 3)), depth + 1)
                made.append(
                    SchedulerSpec(
                        f"s{next(names)}",
                        tuple(inner),
                        requires=requires,
                        critical=False,
                        on_failed_requirement=policy,
                        jobs_window=pick((None, None, 1, 2)),
                    )
                )
                continue
            after = pick(_FAST + _SLOW)
            made.append(job(pick((Return(after), Return(after), Raise(after))), requires, policy))
        return made

    sources: list[Node] = [job(Raise(pick(_FAST))), job(Return(pick(_SLOW)))]
    if pick((0, 1)):
        sources.append(job(pick((Raise(pick(_FAST)), Return(pick(_SLOW))))))
    count = draw(st.integers(2, max(2, max_jobs - len(sources))))
    return SchedulerSpec(
        "top",
        (*sources, *consumers(len(sources), count, 0)),
        jobs_window=pick((None, None, 1, 2, 3)),
    )


# the shape of issue 11, item 18: 'j3' requires a job that fails at once and a slower
# one that succeeds; 'j3' is skipped when the slow one ends, and so must be 'j4'
LAST_REQUIREMENT_SUCCEEDED = SchedulerSpec(
    "top",
    (
        JobSpec("j1", Raise(0.0)),
        JobSpec("j2", Return(0.005)),
        JobSpec("j3", Return(), (0, 1), on_failed_requirement="skip"),
        JobSpec("j4", Return(), (2,), on_failed_requirement="skip"),
    ),
)

# the same through a nested scheduler: skipped as a whole, then its dependent
NESTED_LAST_REQUIREMENT_SUCCEEDED = SchedulerSpec(
    "top",
    (
        JobSpec("j1", Raise(0.0)),
        JobSpec("j2", Return(0.005)),
        SchedulerSpec(
            "s3",
            (JobSpec("j4", Return()),),
            requires=(0, 1),
            critical=False,
            on_failed_requirement="skip",
        ),
        JobSpec("j5", Return(), (2,), on_failed_requirement="skip"),
    ),
)


@pytest.mark.parametrize("backend", BACKENDS)
@given(spec=skip_graphs())
@example(spec=LAST_REQUIREMENT_SUCCEEDED)
@example(spec=NESTED_LAST_REQUIREMENT_SUCCEEDED)
def test_skip_dense_graphs_follow_the_semantics(backend: str, spec: SchedulerSpec) -> None:
    assert_valid(run_graph(spec, backend=backend))
