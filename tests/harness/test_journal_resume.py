"""The property harness with a run journal: over drawn graphs with injected failures,
run, fix the failures, resume. Each body that succeeded ran successfully once in all
(or twice, when it first ran after a requirement that failed: it must not be kept), and
every job ends as in one clean run of the fixed graph, with the same result.

With injected crashes too (``run_graph(..., crash_after=N)``: the journal loses what a
``kill -9`` would lose at the run's N-th event): each extra success of a body is
accounted for by a crash that caught it in flight (its success not committed) or by a
requirement that ran again, and what a kept job saw is what a clean run shows.
"""

from __future__ import annotations

import dataclasses
import itertools
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobgraph import Journal
from jobgraph.lowlevel import journal_mark_of, requirements_of
from jobgraph.testing import JobSpec, Raise, Return, SchedulerSpec, Trace, graphs, run_graph

BEHAVIOURS = st.one_of(
    st.builds(Return, after=st.sampled_from([0.0, 0.01]), result=st.integers(0, 99)),
    st.builds(Raise, after=st.sampled_from([0.0, 0.01])),
)


# the graphs drawn: deterministic bodies; no timeouts, forever jobs or retries
GRAPHS = graphs(
    max_jobs=8,
    timeouts=False,
    forever=False,
    retries=False,
    deterministic=True,
    jobs=BEHAVIOURS,
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


def seen(trace: Trace) -> dict[str, dict[str, Any]]:
    """What each job that ran saw of its requirements' results, on its last attempt
    (``saw`` notes: through ``ResultOf`` placeholders or ``result()``), by job name."""
    return {note.job: dict(note.values or {}) for note in trace.notes if note.what == "saw"}


def assert_saw_as_in(trace: Trace, clean: Trace) -> None:
    """Every value a job saw in ``trace`` is what it saw in the ``clean`` run."""
    expected = seen(clean)
    for name, values in seen(trace).items():
        assert values == expected.get(name), (name, values, expected.get(name), trace.describe())


def assert_saw_results_of(trace: Trace, clean: Trace) -> None:
    """Every value a job saw in ``trace`` (a run of the graph before the fix, which may
    see less) is the clean run's result of that requirement."""
    for note in trace.notes:
        for other, value in (note.values or {}).items():
            assert value == clean.outcomes[other].result, (note, trace.describe())


@pytest.mark.parametrize("backend", ["asyncio", "trio-mockclock"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=GRAPHS)
def test_fix_and_resume_runs_each_success_once(backend: str, spec: SchedulerSpec) -> None:
    clean = run_graph(fixed(spec), backend=backend)
    with tempfile.TemporaryDirectory() as directory:
        journal = Path(directory) / "runs.db"
        first = run_graph(spec, backend=backend, journal=journal)
        second = run_graph(fixed(spec), backend=backend, journal=journal, resume=True)
    # every value a dependent saw (restored requirements' included) is as in a clean run
    assert_saw_results_of(first, clean)
    assert_saw_as_in(second, clean)
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


def _succeeded(trace: Trace) -> Counter[str]:
    """The bodies that returned, before the crash if the run crashed."""
    crash = trace.crash_seq
    return Counter(
        note.job
        for note in trace.notes
        if note.what == "return" and (crash is None or note.seq < crash)
    )


def _committed(journal: Path) -> set[str]:
    """The jobs whose success the journal's latest run holds (restored ones included):
    the keys are label paths, and drawn names are unique."""
    return {
        entry.key.rsplit("/", 1)[-1] for entry in Journal(journal).jobs() if entry.outcome == "ok"
    }


def _restored(trace: Trace) -> set[str]:
    return {name for name, job in trace.built.jobs.items() if journal_mark_of(job) == "↺ restored"}


@pytest.mark.parametrize("backend", ["asyncio", "trio-mockclock"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=GRAPHS, data=st.data())
def test_crash_fix_and_resume_loses_nothing(
    backend: str, spec: SchedulerSpec, data: st.DataObject
) -> None:
    clean = run_graph(fixed(spec), backend=backend)
    bodies = {name for name, node in clean.built.specs.items() if isinstance(node, JobSpec)}
    # crash at the run's n-th event (past its last event: no crash); a job has about 3
    crashes = data.draw(
        st.lists(st.integers(1, 3 * len(clean.built.jobs) + 1), min_size=1, max_size=2),
        label="crashes",
    )
    lag = spec.jobs_window or 256  # successes that may wait for their commit
    runs: list[tuple[Trace, set[str]]] = []
    with tempfile.TemporaryDirectory() as directory:
        journal = Path(directory) / "runs.db"
        for number, crash_after in enumerate(crashes):
            trace = run_graph(
                spec, backend=backend, journal=journal, resume=number > 0, crash_after=crash_after
            )
            assert trace.error is None, trace.describe()
            runs.append((trace, _committed(journal)))
        final = run_graph(fixed(spec), backend=backend, journal=journal, resume=True)
        assert final.crash_seq is None
        runs.append((final, _committed(journal)))
    # every value a dependent saw (restored requirements' included) is as in a clean run
    for trace, _ in runs[:-1]:
        assert_saw_results_of(trace, clean)
    assert_saw_as_in(final, clean)
    # the last run ends as one clean run of the fixed graph, with the same results
    assert final.ok == clean.ok, final.describe()
    for name in final.built.jobs:
        assert final.outcomes[name].outcome == clean.outcomes[name].outcome, name
        assert final.outcomes[name].result == clean.outcomes[name].result, name
    total: Counter[str] = Counter()
    allowed: Counter[str] = Counter(dict.fromkeys(bodies, 1))
    for (trace, committed), (after, _) in itertools.pairwise(runs):
        succeeded = _succeeded(trace)
        total.update(succeeded)
        restored = _restored(trace)
        # the journal holds no success that did not happen before the crash
        assert committed & bodies <= set(succeeded) | restored, trace.describe()
        lost = set(succeeded) - committed
        if trace.crash_seq is None:
            assert not lost, (lost, trace.describe())
        else:
            # lost: bodies that ended before the crash, their success not committed:
            # in flight at the crash; a crash loses no more than the commit lag
            assert len(lost) <= lag, (lost, trace.describe())
        again = _restored(after)
        assert again <= committed, (again - committed, trace.describe())
        returned_after = returns(after)
        for name in again & bodies:
            # kept: not run again, and what it saw then is what a clean run shows
            assert returned_after[name] == 0, name
            assert trace.outcomes[name].outcome == "ok", name
            assert trace.outcomes[name].result == clean.outcomes[name].result, name
            for upstream in _upstream(trace, name):
                assert trace.outcomes[upstream].outcome == "ok", (name, upstream)
                assert trace.outcomes[upstream].result == clean.outcomes[upstream].result
        for name in set(succeeded) - again:
            # a success thrown away: the crash caught it in flight, or a requirement
            # (of it or of a scheduler holding it) runs again
            requirement_again = not all(
                journal_mark_of(requirement) == "↺ restored"
                for requirement in requirements_of(after.built.jobs[name])
            ) or _inside_rerun(after, name)
            assert name in lost or requirement_again, (name, trace.describe())
            allowed[name] += 1
    total.update(returns(final))
    for name in bodies:
        assert total[name] <= allowed[name], (name, total[name], allowed[name])
        if final.outcomes[name].outcome == "ok":
            assert total[name] >= 1, name


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_crash_after_bad_value_is_refused_naming_it(backend: str, tmp_path: Path) -> None:
    spec = SchedulerSpec("top", (JobSpec("j1", Return()),))
    with pytest.raises(ValueError, match="crash_after must be a number of events"):
        run_graph(spec, backend=backend, journal=tmp_path / "runs.db", crash_after=0)
    with pytest.raises(ValueError, match="crash_after crashes a journaled run"):
        run_graph(spec, backend=backend, crash_after=1)
    assert not (tmp_path / "runs.db").exists()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("moment", [("started", "j2"), ("finished", "j3")])
def test_crash_loses_only_what_was_not_committed(
    backend: str, moment: tuple[str, str], tmp_path: Path
) -> None:
    """A chain j1 -> j2 -> j3 crashed at an event: the run's end is never written, the
    journal holds only successes that happened, and a resume restores exactly those
    and runs the others (the bodies that had ended then were in flight)."""
    spec = SchedulerSpec(
        "top",
        (
            JobSpec("j1", Return(result=1)),
            JobSpec("j2", Return(result=2), requires=(0,)),
            JobSpec("j3", Return(result=3), requires=(1,)),
        ),
    )
    journal = tmp_path / "runs.db"
    probe = run_graph(spec, backend=backend)
    crash_at = [(event.kind.value, event.job) for event in probe.events].index(moment) + 1
    crashed = run_graph(spec, backend=backend, journal=journal, crash_after=crash_at)
    assert crashed.crash_seq is not None
    ended = set(_succeeded(crashed))
    assert ended == ({"j1"} if moment[1] == "j2" else {"j1", "j2", "j3"})
    (run,) = Journal(journal).runs()
    assert run.outcome is None  # the run's end was never written
    committed = _committed(journal)
    assert committed <= ended
    resumed = run_graph(spec, backend=backend, journal=journal, resume=True)
    assert resumed.ok
    assert _restored(resumed) == committed
    assert returns(resumed) == Counter(dict.fromkeys({"j1", "j2", "j3"} - committed, 1))
    assert [resumed.outcomes[name].result for name in ("j1", "j2", "j3")] == [1, 2, 3]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_dependents_see_the_results_restored_from_the_journal(backend: str, tmp_path: Path) -> None:
    """j1 succeeds, its dependents fail; fixed and resumed, j1 is restored and every
    dependent sees its journaled result: j2 through a ``ResultOf`` placeholder, j4 with
    ``result()``, j5 through a sequence."""
    spec = SchedulerSpec(
        "top",
        (
            JobSpec("j1", Return(result=7)),
            JobSpec("j5", Raise()),
            JobSpec("j2", Raise(), requires=(0,)),
            SchedulerSpec("s1", (JobSpec("j3", Raise(), critical=True),), critical=False),
            JobSpec("j4", Raise(), requires=(0, 3)),
        ),
        sequences=((0, 2),),
    )
    journal = tmp_path / "runs.db"
    clean = run_graph(fixed(spec), backend=backend)
    first = run_graph(spec, backend=backend, journal=journal)
    failed = {name for name, outcome in first.outcomes.items() if outcome.outcome == "failed"}
    assert failed == {"j2", "j3", "j4", "j5", "s1"}
    # s1 failed: j4 ran all the same and saw nothing of it
    assert seen(first) == {"j5": {"j1": 7}, "j2": {"j1": 7}, "j4": {"j1": 7}}
    resumed = run_graph(fixed(spec), backend=backend, journal=journal, resume=True)
    assert resumed.ok, resumed.describe()
    assert _restored(resumed) == {"j1"}
    want = {"j5": {"j1": 7}, "j2": {"j1": 7}, "j4": {"j1": 7, "s1": True}}
    assert seen(resumed) == seen(clean) == want
