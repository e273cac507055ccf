"""Hypothesis strategies that draw job behaviours and whole job graphs.

Graphs are acyclic by construction: a child may require only children drawn before
it in the same scheduler. Durations are a few milliseconds, so that graphs stay cheap
on a real clock; under trio's MockClock they cost nothing at all.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from hypothesis import strategies as st

from jobgraph.testing._behaviours import (
    CALL_METHODS,
    Behaviour,
    CallService,
    Flaky,
    Hang,
    Raise,
    Return,
    Serve,
    Stubborn,
)
from jobgraph.testing._specs import JobSpec, Node, RetrySpec, SchedulerSpec

__all__ = ["behaviours", "forever_behaviours", "graphs", "retry_specs", "service_calls"]

# Values chosen so that sums of durations rarely tie exactly with a timeout.
_DURATIONS = (0.0, 0.001, 0.002, 0.005, 0.01, 0.02)
_JOB_TIMEOUTS = (0.0035, 0.0075, 0.0155)
_RUN_TIMEOUTS = (0.0137, 0.0291, 0.0613)
_SHUTDOWN_TIMEOUTS = (0.05, 0.1, 1.0)
_SHIELDED = (0.0, 0.003, 0.012)  # always shorter than any shutdown timeout

durations = st.sampled_from(_DURATIONS)


def retry_specs() -> st.SearchStrategy[RetrySpec]:
    """A strategy for retry policies: 1 to 4 attempts, small backoffs, sometimes capped
    or jittered.

    Returns:
        A hypothesis strategy of :class:`RetrySpec`.
    """
    return st.builds(
        RetrySpec,
        attempts=st.integers(1, 4),
        backoff=st.sampled_from((0.0, 0.001, 0.003)),
        factor=st.sampled_from((1.0, 2.0, 3.0)),
        max_delay=st.sampled_from((None, None, 0.004)),
        jitter=st.sampled_from((0.0, 0.0, 0.0, 0.5)),
        on=st.sampled_from(("any", "any", "behaviour", "timeout")),
    )


def behaviours(*, hang: bool = True) -> st.SearchStrategy[Behaviour]:
    """A strategy for the behaviours of finite jobs, service calls included.

    Args:
        hang: also draw :class:`Hang` (the job that never ends); False leaves it out.

    Returns:
        A hypothesis strategy of :class:`Behaviour`.
    """
    results = st.integers(0, 9)
    options: list[st.SearchStrategy[Behaviour]] = [
        st.builds(Return, after=durations, result=results),
        st.builds(Raise, after=durations),
        st.builds(Flaky, failures=st.integers(1, 3), after=durations, result=results),
        st.builds(Stubborn, shielded=st.sampled_from(_SHIELDED), after=durations, result=results),
        service_calls(),
    ]
    if hang:
        options.append(st.just(Hang()))
    return st.one_of(options)


def service_calls(
    methods: tuple[str, ...] = CALL_METHODS,
) -> st.SearchStrategy[CallService]:
    """A strategy for jobs that call the run's harness services.

    Shared calls use keys 0 to 2, so that several jobs often ask for the same one.

    Args:
        methods: the calls to draw from (see :class:`~jobgraph.testing.CallService`).

    Returns:
        A hypothesis strategy of :class:`CallService`.

    Raises:
        ValueError: ``methods`` is empty or names an unknown call.
    """
    unknown = set(methods) - set(CALL_METHODS)
    if unknown or not methods:
        raise ValueError(f"service_calls(): methods must be some of {CALL_METHODS}")
    return st.builds(
        CallService,
        method=st.sampled_from(methods),
        after=durations,
        result=st.integers(0, 9),
        key=st.integers(0, 2),
    )


def forever_behaviours() -> st.SearchStrategy[Serve]:
    """A strategy for the behaviours of forever jobs: get ready, serve, maybe crash,
    clean up when cancelled.

    Returns:
        A hypothesis strategy of :class:`Serve`.
    """
    return st.builds(
        Serve,
        ready_after=durations,
        signals_ready=st.booleans(),
        crash_after=st.one_of(st.none(), st.none(), durations),
        cleanup=st.sampled_from(_SHIELDED),
    )


@st.composite
def graphs(
    draw: st.DrawFn,
    *,
    max_jobs: int = 10,
    max_depth: int = 2,
    timeouts: bool = True,
    forever: bool = True,
    retries: bool = True,
    failures: bool = True,
    deterministic: bool = False,
    jobs: st.SearchStrategy[Behaviour] | None = None,
) -> SchedulerSpec:
    """A strategy for job graphs.

    A graph is a top scheduler named ``top`` holding at most ``max_jobs`` nodes (jobs
    and nested schedulers). The switches leave features out; the drawn graph is acyclic
    by construction.

    Args:
        max_jobs: the most nodes below the top scheduler.
        max_depth: the most levels of nested schedulers below the top.
        timeouts: draw per-job and per-scheduler timeouts, and hanging jobs (which
            need one).
        forever: draw forever jobs.
        retries: draw retry policies.
        failures: draw jobs that raise (without them only timeouts can fail a job).
        deterministic: draw only graphs whose outcome cannot depend on timing (see
            :func:`~jobgraph.testing.is_deterministic`): no timeouts, no crashing
            forever job, and jobs that may raise are not critical.
        jobs: draws the behaviours of finite jobs instead of :func:`behaviours` (the
            switches still apply).

    Returns:
        A hypothesis strategy of :class:`SchedulerSpec`.
    """
    names = itertools.count(1)
    budget = [max_jobs]
    features = {
        "timeouts": timeouts and not deterministic,
        "deterministic": deterministic,
        "forever": forever,
        "retries": retries,
        "failures": failures,
        "jobs": jobs,
    }
    return _scheduler(
        draw,
        "top",
        depth=0,
        max_depth=max_depth,
        budget=budget,
        names=names,
        features=features,
        timed=False,
    )


def _scheduler(
    draw: st.DrawFn,
    name: str,
    *,
    depth: int,
    max_depth: int,
    budget: list[int],
    names: itertools.count[int],
    features: dict[str, Any],
    timed: bool,
    requires: tuple[int, ...] = (),
    nested: dict[str, Any] | None = None,
) -> SchedulerSpec:
    timeout = (
        draw(st.one_of(st.none(), st.none(), st.sampled_from(_RUN_TIMEOUTS)))
        if features["timeouts"]
        else None
    )
    timed = timed or timeout is not None
    count = draw(st.integers(0, max(0, min(budget[0], 8))))
    children: list[Node] = []
    for index in range(count):
        if budget[0] <= 0:
            break
        budget[0] -= 1
        requirements = tuple(
            sorted(draw(st.sets(st.integers(0, index - 1), max_size=3))) if index else ()
        )
        policy = draw(st.sampled_from(("run", "run", "skip")))
        critical = draw(st.booleans())
        if depth < max_depth and budget[0] >= 1 and draw(st.integers(0, 5)) == 0:
            children.append(
                _scheduler(
                    draw,
                    f"s{next(names)}",
                    depth=depth + 1,
                    max_depth=max_depth,
                    budget=budget,
                    names=names,
                    features=features,
                    timed=timed,
                    requires=requirements,
                    nested={"critical": critical, "on_failed_requirement": policy},
                )
            )
            continue
        children.append(
            _job(
                draw,
                f"j{next(names)}",
                requirements=requirements,
                critical=critical,
                policy=policy,
                features=features,
                timed=timed,
            )
        )
    if children and all(child.forever for child in children):
        children.append(JobSpec(f"j{next(names)}", Return(), critical=False))
    sequences: list[tuple[int, int]] = []
    start = 0
    while start < len(children) - 1:
        length = draw(st.integers(0, 3))
        if length >= 2 and start + length <= len(children):
            sequences.append((start, start + length))
            start += length
        else:
            start += 1
    window = draw(st.one_of(st.none(), st.integers(1, 3)))
    return SchedulerSpec(
        name,
        tuple(children),
        requires=requires,
        jobs_window=window,
        timeout=timeout,
        shutdown_timeout=draw(st.sampled_from(_SHUTDOWN_TIMEOUTS)),
        sequences=tuple(sequences),
        **(nested or {}),
    )


def _job(
    draw: st.DrawFn,
    name: str,
    *,
    requirements: tuple[int, ...],
    critical: bool,
    policy: str,
    features: dict[str, Any],
    timed: bool,
) -> JobSpec:
    if features["forever"] and draw(st.integers(0, 4)) == 0:
        serve = draw(forever_behaviours())
        if not features["failures"] or features["deterministic"]:
            serve = dataclasses.replace(serve, crash_after=None)
        return JobSpec(
            name,
            serve,
            requirements,
            critical=critical,
            forever=True,
            on_failed_requirement=policy,
        )
    timeout = (
        draw(st.one_of(st.none(), st.none(), st.sampled_from(_JOB_TIMEOUTS)))
        if features["timeouts"]
        else None
    )
    may_hang = features["timeouts"] and (timed or timeout is not None)
    jobs = features["jobs"]
    behaviour = draw(behaviours(hang=may_hang) if jobs is None else jobs)
    if isinstance(behaviour, Hang) and not may_hang:
        behaviour = Return()  # a job that never ends needs a timeout above it
    if not features["failures"] and behaviour.can_fail():
        behaviour = Return(getattr(behaviour, "after", 0.0), getattr(behaviour, "result", 0))
    retry = draw(st.one_of(st.none(), retry_specs())) if features["retries"] else None
    if features["deterministic"] and behaviour.can_fail():
        critical = False
    return JobSpec(
        name,
        behaviour,
        requirements,
        critical=critical,
        timeout=timeout,
        retry=retry,
        on_failed_requirement=policy,
    )
