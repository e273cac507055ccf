"""Graph algebra on schedulers: neighbourhoods, closures, selections and surgery,
with large graphs that quadratic code could not get through in time."""

from __future__ import annotations

import itertools

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jobgraph as jg
from jobgraph import lowlevel, views

pytestmark = pytest.mark.anyio

BIG = 100_000


async def noop() -> None:
    await anyio.lowlevel.checkpoint()


def job(label: str, **options: object) -> jg.Job:
    return jg.Job(noop, label=label, **options)  # type: ignore[arg-type]


def labels(jobs: object) -> set[str]:
    return {j.label for j in jobs}  # type: ignore[attr-defined]


def diamond() -> tuple[jg.Scheduler, dict[str, jg.Job]]:
    """a -> b, a -> c, (b, c) -> d, d -> e; plus a forever job f and a loner g."""
    jobs: dict[str, jg.Job] = {}
    jobs["a"] = job("a")
    jobs["b"] = job("b", requires=jobs["a"])
    jobs["c"] = job("c", requires=jobs["a"])
    jobs["d"] = job("d", requires=[jobs["b"], jobs["c"]])
    jobs["e"] = job("e", requires=jobs["d"])
    jobs["f"] = job("f", forever=True)
    jobs["g"] = job("g")
    return jg.Scheduler(*jobs.values()), jobs


def chain(size: int) -> tuple[jg.Scheduler, list[jg.Job]]:
    jobs = [job(f"j{i}") for i in range(size)]
    for before, after in itertools.pairwise(jobs):
        after.requires(before)
    return jg.Scheduler(*jobs), jobs


def test_entry_jobs_are_those_requiring_nothing_here() -> None:
    scheduler, jobs = diamond()
    outside = job("outside")
    jobs["b"].requires(outside)  # not in the scheduler: does not count
    assert [j.label for j in scheduler.entry_jobs()] == ["a", "f", "g"]


def test_exit_jobs_leave_forever_jobs_out_unless_asked() -> None:
    scheduler, _ = diamond()
    assert [j.label for j in scheduler.exit_jobs()] == ["e", "g"]
    assert [j.label for j in scheduler.exit_jobs(discard_forever=False)] == ["e", "f", "g"]


def test_direct_neighbours_in_both_directions() -> None:
    scheduler, jobs = diamond()
    assert labels(scheduler.predecessors(jobs["d"])) == {"b", "c"}
    assert labels(scheduler.predecessors(jobs["b"], jobs["e"])) == {"a", "d"}
    assert labels(scheduler.successors(jobs["a"])) == {"b", "c"}
    assert labels(scheduler.successors(jobs["b"], jobs["c"])) == {"d"}
    assert scheduler.successors(jobs["e"]) == set()
    assert scheduler.predecessors(jobs["a"]) == set()


def test_neighbours_outside_the_scheduler_are_ignored() -> None:
    scheduler, jobs = diamond()
    outside = job("outside", requires=jobs["a"])
    jobs["a"].requires(job("elsewhere"))
    assert labels(scheduler.successors(jobs["a"])) == {"b", "c"}
    assert scheduler.predecessors(jobs["a"]) == set()
    assert outside not in scheduler.successors_downstream(jobs["a"])


def test_closures_go_all_the_way() -> None:
    scheduler, jobs = diamond()
    assert labels(scheduler.predecessors_upstream(jobs["e"])) == {"a", "b", "c", "d"}
    assert labels(scheduler.predecessors_upstream(jobs["b"])) == {"a"}
    assert labels(scheduler.successors_downstream(jobs["a"])) == {"b", "c", "d", "e"}
    assert labels(scheduler.successors_downstream(jobs["c"], jobs["g"])) == {"d", "e"}


def test_keep_only_drops_the_rest_and_their_links() -> None:
    scheduler, jobs = diamond()
    scheduler.keep_only([jobs["a"], jobs["b"], jobs["d"], job("stranger")])
    assert labels(scheduler.jobs) == {"a", "b", "d"}
    assert jobs["d"].requirements == (jobs["b"],)
    assert jobs["c"].scheduler is None
    assert scheduler.check_cycles()


def test_keep_only_accepts_sequences() -> None:
    scheduler, jobs = diamond()
    scheduler.keep_only(jg.Sequence(jobs["e"], jobs["g"]))
    assert labels(scheduler.jobs) == {"e", "g"}
    assert jobs["e"].requirements == ()


async def test_kept_jobs_still_run() -> None:
    scheduler, jobs = diamond()
    scheduler.keep_only([jobs["c"], jobs["d"], jobs["e"]])
    assert await scheduler.run()
    assert all(j.record.succeeded for j in scheduler.jobs)


def test_keep_only_between_starts_and_ends() -> None:
    scheduler, jobs = diamond()
    scheduler.keep_only_between(starts=[jobs["b"]], ends=[jobs["e"]])
    assert labels(scheduler.jobs) == {"b", "d", "e"}
    assert jobs["d"].requirements == (jobs["b"],)


def test_keep_only_between_without_the_bounds_themselves() -> None:
    scheduler, jobs = diamond()
    scheduler.keep_only_between(starts=[jobs["a"]], ends=[jobs["e"]], keep_starts=False)
    assert labels(scheduler.jobs) == {"b", "c", "d", "e"}
    scheduler, jobs = diamond()
    scheduler.keep_only_between(
        starts=[jobs["a"]], ends=[jobs["e"]], keep_starts=False, keep_ends=False
    )
    assert labels(scheduler.jobs) == {"b", "c", "d"}


def test_keep_only_between_with_one_side_only() -> None:
    scheduler, jobs = diamond()
    scheduler.keep_only_between(starts=[jobs["c"]])
    assert labels(scheduler.jobs) == {"c", "d", "e"}
    scheduler, jobs = diamond()
    scheduler.keep_only_between(ends=[jobs["b"]])
    assert labels(scheduler.jobs) == {"a", "b"}
    scheduler, jobs = diamond()
    scheduler.keep_only_between()
    assert len(scheduler) == 7


def test_bypass_and_remove_rewires_requirements() -> None:
    scheduler, jobs = diamond()
    scheduler.bypass_and_remove(jobs["d"])
    assert jobs["d"] not in scheduler
    assert jobs["d"].scheduler is None
    assert set(jobs["e"].requirements) == {jobs["b"], jobs["c"]}
    scheduler.bypass_and_remove(jobs["a"])
    assert jobs["b"].requirements == ()
    assert [j.label for j in scheduler.topological_order()][-1] == "e"


def test_bypass_and_remove_refuses_foreign_jobs() -> None:
    scheduler, _ = diamond()
    inner = job("inner")
    jg.Scheduler(jg.Scheduler(inner), scheduler)
    with pytest.raises(ValueError, match="'inner' is not in scheduler"):
        scheduler.bypass_and_remove(inner)


async def test_bypassed_graph_runs_in_the_same_order() -> None:
    order: list[str] = []

    async def note(name: str) -> None:
        order.append(name)
        await anyio.sleep(0.001)

    a, b, c = (jg.Job(note, name, label=name) for name in "abc")
    b.requires(a)
    c.requires(b)
    scheduler = jg.Scheduler(c, b, a)
    scheduler.bypass_and_remove(b)
    assert await scheduler.run()
    assert order == ["a", "c"]


def test_surgery_refused_while_running() -> None:
    scheduler, jobs = diamond()
    scheduler._running = True  # what a run in progress looks like from the outside
    try:
        with pytest.raises(jg.RunStateError):
            scheduler.keep_only([jobs["a"]])
        with pytest.raises(jg.RunStateError):
            scheduler.bypass_and_remove(jobs["a"])
    finally:
        scheduler._running = False
    assert len(scheduler) == 7


def test_sanitize_and_check_cycles_look_into_nested_schedulers() -> None:
    a = job("a")
    b = job("b", requires=a)
    a.requires(b)
    nested = jg.Scheduler(a, b)
    scheduler = jg.Scheduler(nested)
    assert not scheduler.check_cycles()
    loose = job("loose", requires=job("elsewhere"))
    healthy = jg.Scheduler(jg.Scheduler(loose))
    assert not healthy.sanitize()
    assert loose.requirements == ()
    assert healthy.sanitize()


# -- large graphs: linear algorithms get through in seconds, quadratic ones never --------


@pytest.mark.timeout(60)
def test_algebra_on_a_long_chain() -> None:
    scheduler, jobs = chain(BIG)
    assert scheduler.check_cycles()
    assert sum(1 for _ in scheduler.iterate_jobs()) == BIG
    order = list(scheduler.topological_order())
    assert order[0] is jobs[0] and order[-1] is jobs[-1]
    assert list(scheduler.entry_jobs()) == [jobs[0]]
    assert list(scheduler.exit_jobs()) == [jobs[-1]]
    assert len(scheduler.successors_downstream(jobs[0])) == BIG - 1
    assert len(scheduler.predecessors_upstream(jobs[-1])) == BIG - 1
    assert scheduler.successors(jobs[5]) == {jobs[6]}
    assert scheduler.sanitize()
    scheduler.keep_only_between(starts=[jobs[10]], ends=[jobs[-11]])
    assert len(scheduler) == BIG - 20
    scheduler.bypass_and_remove(jobs[BIG // 2])
    assert jobs[BIG // 2 + 1].requirements == (jobs[BIG // 2 - 1],)
    scheduler.keep_only(jobs[: BIG // 4])
    assert len(scheduler) == BIG // 4 - 10
    assert list(scheduler.entry_jobs()) == [jobs[10]]


@pytest.mark.timeout(60)
def test_algebra_on_a_wide_fan() -> None:
    root = job("root")
    leaves = [job(f"leaf{i}", requires=root) for i in range(BIG)]
    sink = job("sink", requires=leaves)
    scheduler = jg.Scheduler(root, *leaves, sink)
    assert len(scheduler.successors(root)) == BIG
    assert len(scheduler.predecessors(sink)) == BIG
    assert len(scheduler.successors_downstream(root)) == BIG + 1
    assert list(scheduler.exit_jobs()) == [sink]
    scheduler.bypass_and_remove(root)
    assert list(scheduler.entry_jobs()) == leaves
    scheduler.keep_only_between(ends=[leaves[0]])
    assert list(scheduler.jobs) == [leaves[0]]


@pytest.mark.timeout(60)
def test_cycle_found_in_a_long_chain() -> None:
    scheduler, jobs = chain(BIG)
    jobs[0].requires(jobs[-1])
    assert not scheduler.check_cycles()
    with pytest.raises(jg.CycleError) as info:
        list(scheduler.topological_order())
    assert len(info.value.cycle) == BIG


# -- properties, against a naive model on small random DAGs ----------------------------


@st.composite
def dags(draw: st.DrawFn) -> tuple[int, set[tuple[int, int]]]:
    """``size`` nodes and edges (a, b) meaning b requires a, with a < b: acyclic."""
    size = draw(st.integers(1, 10))
    pairs = [(a, b) for b in range(size) for a in range(b)]
    edges = draw(st.sets(st.sampled_from(pairs), max_size=len(pairs))) if pairs else set()
    return size, edges


def build(size: int, edges: set[tuple[int, int]]) -> tuple[jg.Scheduler, list[jg.Job]]:
    jobs = [job(str(n)) for n in range(size)]
    for a, b in sorted(edges):
        jobs[b].requires(jobs[a])
    order = list(range(size))
    order.reverse()  # insertion order unrelated to the requirements
    return jg.Scheduler(*(jobs[n] for n in order)), jobs


def reach(edges: set[tuple[int, int]], start: int, *, forward: bool) -> set[int]:
    found: set[int] = set()
    frontier = {start}
    while frontier:
        step = {b if forward else a for a, b in edges if (a if forward else b) in frontier}
        frontier = step - found
        found |= step
    return found


def numbers(jobs: object) -> set[int]:
    return {int(j.label) for j in jobs}  # type: ignore[attr-defined]


@settings(max_examples=150, deadline=None)
@given(dags(), st.data())
def test_closures_and_order_match_a_naive_model(
    dag: tuple[int, set[tuple[int, int]]], data: st.DataObject
) -> None:
    size, edges = dag
    scheduler, jobs = build(size, edges)
    position = {int(j.label): i for i, j in enumerate(scheduler.topological_order())}
    assert all(position[a] < position[b] for a, b in edges)
    node = data.draw(st.integers(0, size - 1))
    assert numbers(scheduler.predecessors(jobs[node])) == {a for a, b in edges if b == node}
    assert numbers(scheduler.successors(jobs[node])) == {b for a, b in edges if a == node}
    assert numbers(scheduler.predecessors_upstream(jobs[node])) == reach(edges, node, forward=False)
    assert numbers(scheduler.successors_downstream(jobs[node])) == reach(edges, node, forward=True)
    assert numbers(scheduler.entry_jobs()) == {
        n for n in range(size) if not any(b == n for _, b in edges)
    }
    assert numbers(scheduler.exit_jobs()) == {
        n for n in range(size) if not any(a == n for a, _ in edges)
    }


@settings(max_examples=150, deadline=None)
@given(dags(), st.data())
def test_bypass_and_remove_keeps_every_other_ordering(
    dag: tuple[int, set[tuple[int, int]]], data: st.DataObject
) -> None:
    size, edges = dag
    scheduler, jobs = build(size, edges)
    gone = data.draw(st.integers(0, size - 1))
    scheduler.bypass_and_remove(jobs[gone])
    assert jobs[gone] not in scheduler
    for n in range(size):
        if n == gone:
            continue
        assert jobs[gone] not in jobs[n].requirements
        expected = reach(edges, n, forward=True) - {gone}
        assert numbers(scheduler.successors_downstream(jobs[n])) == expected


@settings(max_examples=150, deadline=None)
@given(dags(), st.data())
def test_keep_only_between_matches_a_naive_model(
    dag: tuple[int, set[tuple[int, int]]], data: st.DataObject
) -> None:
    size, edges = dag
    scheduler, jobs = build(size, edges)
    nodes = st.sets(st.integers(0, size - 1), max_size=3)
    starts, ends = data.draw(nodes), data.draw(nodes)
    keep_starts, keep_ends = data.draw(st.booleans()), data.draw(st.booleans())
    expected = set(range(size))
    if starts:
        expected &= set().union(*(reach(edges, n, forward=True) for n in starts))
    if ends:
        expected &= set().union(*(reach(edges, n, forward=False) for n in ends))
    if keep_starts:
        expected |= starts
    if keep_ends:
        expected |= ends
    scheduler.keep_only_between(
        starts=[jobs[n] for n in starts],
        ends=[jobs[n] for n in ends],
        keep_starts=keep_starts,
        keep_ends=keep_ends,
    )
    assert numbers(scheduler.jobs) == expected
    assert scheduler.sanitize()  # nothing left pointing outside


def test_refused_requirements_name_the_job_to_require_instead() -> None:
    deep = job("deep")
    middle = jg.Scheduler(jg.Scheduler(deep, label="inner"), label="middle")
    inner = middle.jobs[0]
    outsider = job("outsider")
    fine = job("fine")
    user = job("user", requires=[fine, deep, outsider])
    top = jg.Scheduler(middle, fine, user, label="top")
    assert views.refused_requirements(user) == [(deep, middle), (outsider, None)]
    assert views.refused_requirements(fine) == []
    assert views.refused_requirements(outsider) == []  # in no scheduler: nothing to refuse
    assert lowlevel.nested_holder(top, deep) is middle
    assert lowlevel.nested_holder(middle, deep) is inner
    assert lowlevel.nested_holder(inner, deep) is None  # a member is not nested
    assert lowlevel.nested_holder(None, deep) is None
    user.requires(middle).requires(deep, outsider, remove=True)
    assert views.refused_requirements(user) == []
