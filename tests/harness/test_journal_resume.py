"""The property harness with a run journal: over drawn graphs with injected failures,
run, fix the failures, resume. Each body that succeeded ran successfully once in all
(or twice, when it first ran after a requirement that failed: it must not be kept), and
every job ends as in one clean run of the fixed graph, with the same result."""

from __future__ import annotations

import dataclasses
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobgraph.lowlevel import journal_mark_of, requirements_of
from jobgraph.testing import JobSpec, Raise, Return, SchedulerSpec, Trace, graphs, run_graph

BEHAVIOURS = st.one_of(
    st.builds(Return, after=st.sampled_from([0.0, 0.01]), result=st.integers(0, 99)),
    st.builds(Raise, after=st.sampled_from([0.0, 0.01])),
)


def fixed(spec: SchedulerSpec) -> SchedulerSpec:
    """The same graph, every failing job made to return (its result: its name's length)."""
    children: list[JobSpec | SchedulerSpec] = []
    for child in spec.children:
        if isinstance(child, SchedulerSpec):
            children.append(fixed(child))
        elif isinstance(child.behaviour, Raise):
            behaviour = Return(after=child.behaviour.after, result=len(child.name))
            children.append(dataclasses.replace(child, behaviour=behaviour))
        else:
            children.append(child)
    return dataclasses.replace(spec, children=tuple(children))


def returns(trace: Trace) -> Counter[str]:
    return Counter(note.job for note in trace.notes if note.what == "return")


@pytest.mark.parametrize("backend", ["asyncio", "trio-mockclock"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spec=graphs(
        max_jobs=8,
        timeouts=False,
        forever=False,
        retries=False,
        deterministic=True,
        jobs=BEHAVIOURS,
    )
)
def test_fix_and_resume_runs_each_success_once(backend: str, spec: SchedulerSpec) -> None:
    clean = run_graph(fixed(spec), backend=backend)
    with tempfile.TemporaryDirectory() as directory:
        journal = Path(directory) / "runs.db"
        first = run_graph(spec, backend=backend, journal=journal)
        second = run_graph(fixed(spec), backend=backend, journal=journal, resume=True)
    assert second.ok == clean.ok
    succeeded_first = returns(first)
    succeeded_second = returns(second)
    for name, job in second.built.jobs.items():
        # every job ends as in the clean run, with the same result
        assert second.outcomes[name].outcome == clean.outcomes[name].outcome, name
        assert second.outcomes[name].result == clean.outcomes[name].result, name
        restored = journal_mark_of(job) == "↺ restored"
        if restored:
            assert succeeded_second[name] == 0, name
            assert first.outcomes[name].outcome == "ok", name
            # what it saw then is what a clean run shows: every job upstream of it (and
            # of the schedulers holding it) succeeded with the clean run's result
            for upstream in _upstream(second, name):
                assert first.outcomes[upstream].outcome == "ok", (name, upstream)
                assert first.outcomes[upstream].result == clean.outcomes[upstream].result
        if name not in succeeded_first:
            continue
        # a body that succeeded in the first run runs again only if it is not restored,
        # which happens only downstream of a job that runs again (or inside one)
        again = succeeded_second[name]
        if not restored:
            assert again == 1, name
            owner_restored = all(
                journal_mark_of(requirement) == "↺ restored" for requirement in requirements_of(job)
            )
            assert not owner_restored or _inside_rerun(second, name), name


def _inside_rerun(trace: Trace, name: str) -> bool:
    """Whether a scheduler holding job ``name`` has a requirement that ran again."""
    built = trace.built
    parent = built.parents.get(name)
    while parent is not None and parent in built.jobs:
        scheduler = built.jobs[parent]
        if any(
            journal_mark_of(requirement) != "↺ restored"
            for requirement in requirements_of(scheduler)
        ):
            return True
        parent = built.parents.get(parent)
    return False


def _upstream(trace: Trace, name: str) -> set[str]:
    """The jobs that ``name`` waited for, directly or not, its schedulers' included."""
    built = trace.built
    found: set[str] = set()
    stack = [name]
    while stack:
        current = stack.pop()
        holders = [current]
        parent = built.parents.get(current)
        while parent is not None and parent in built.jobs:
            holders.append(parent)
            parent = built.parents.get(parent)
        for holder in holders:
            for requirement in requirements_of(built.jobs[holder]):
                other = built.name_of(requirement)
                if other not in found:
                    found.add(other)
                    stack.append(other)
    return found
