"""A rule-based machine builds a graph step by step (add a job, a requirement, a nested
scheduler; remove, bypass_and_remove, keep_only_between, sanitize) and after every step
compares the scheduler's graph algebra with a model made of plain dicts and sets; now and
then it runs the graph and checks the run against the model.
"""

from __future__ import annotations

import itertools

import anyio
import anyio.lowlevel
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import jobgraph as jg


async def value(n: int) -> int:
    await anyio.lowlevel.checkpoint()
    return n


class Model:
    """The reference: members of each scheduler in order, and each job's requirements."""

    def __init__(self) -> None:
        self.members: dict[str, list[str]] = {"top": []}
        self.requires: dict[str, set[str]] = {"top": set()}
        self.parent: dict[str, str] = {}

    def scheduler_of(self, job: str) -> str:
        return self.parent[job]

    def upstream(self, scheduler: str, job: str) -> set[str]:
        """Jobs of ``scheduler`` that ``job`` requires, directly or not."""
        mine = set(self.members[scheduler])
        found: set[str] = set()
        stack = [r for r in self.requires[job] if r in mine]
        while stack:
            current = stack.pop()
            if current not in found:
                found.add(current)
                stack.extend(r for r in self.requires[current] if r in mine)
        return found

    def downstream(self, scheduler: str, job: str) -> set[str]:
        return {
            other for other in self.members[scheduler] if job in self.upstream(scheduler, other)
        }

    def has_cycle(self, scheduler: str) -> bool:
        return any(job in self.upstream(scheduler, job) for job in self.members[scheduler])

    def subtree(self, scheduler: str) -> list[str]:
        """Every job below ``scheduler``, nested schedulers included."""
        found = []
        for job in self.members[scheduler]:
            found.append(job)
            if job in self.members:
                found += self.subtree(job)
        return found

    def dangling(self, scheduler: str) -> bool:
        mine = set(self.members[scheduler])
        return any(not self.requires[job] <= mine for job in mine)

    def drop(self, scheduler: str, job: str) -> None:
        self.members[scheduler].remove(job)
        del self.parent[job]


class GraphMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.model = Model()
        self.top = jg.Scheduler(label="top")
        self.jobs: dict[str, jg.AbstractJob] = {"top": self.top}
        self.names = itertools.count(1)

    # -- helpers ------------------------------------------------------------------------
    def scheduler(self, name: str) -> jg.Scheduler:
        job = self.jobs[name]
        assert isinstance(job, jg.Scheduler)
        return job

    def name(self, job: jg.AbstractJob) -> str:
        return job.label

    def names_of(self, jobs: object) -> set[str]:
        return {self.name(job) for job in jobs}  # type: ignore[attr-defined]

    def populated(self) -> list[str]:
        return [s for s, members in self.model.members.items() if members]

    # -- rules ----------------------------------------------------------------------------
    @rule(data=st.data())
    def add_job(self, data: st.DataObject) -> None:
        where = data.draw(st.sampled_from(sorted(self.model.members)), label="scheduler")
        number = next(self.names)
        name = f"j{number}"
        job = jg.Job(value, number, label=name)
        assert self.scheduler(where).add(job) is job
        self.jobs[name] = job
        self.model.members[where].append(name)
        self.model.requires[name] = set()
        self.model.parent[name] = where

    @precondition(lambda self: len(self.model.members) < 5)
    @rule(data=st.data())
    def nest(self, data: st.DataObject) -> None:
        where = data.draw(st.sampled_from(sorted(self.model.members)), label="scheduler")
        name = f"s{next(self.names)}"
        nested = jg.Scheduler(label=name, jobs_window=data.draw(st.sampled_from([None, 1, 2])))
        self.scheduler(where).add(nested)
        self.jobs[name] = nested
        self.model.members[where].append(name)
        self.model.members[name] = []
        self.model.requires[name] = set()
        self.model.parent[name] = where

    @precondition(lambda self: bool(self.populated()))
    @rule(data=st.data())
    def add_requirement(self, data: st.DataObject) -> None:
        where = data.draw(st.sampled_from(self.populated()), label="scheduler")
        members = self.model.members[where]
        job = data.draw(st.sampled_from(members), label="job")
        required = data.draw(st.sampled_from(members), label="requirement")
        if job == required:
            with pytest.raises(jg.CycleError, match="cannot require itself"):
                self.jobs[job].requires(self.jobs[required])
            return
        cycle = job == required or job in self.model.upstream(where, required)
        self.jobs[job].requires(self.jobs[required])
        self.model.requires[job].add(required)
        assert self.model.has_cycle(where) is cycle
        if self.model.has_cycle(where):
            assert not self.top.check_cycles()
            with pytest.raises(jg.CycleError) as caught:
                list(self.scheduler(where).topological_order())
            assert len(caught.value.cycle) >= 2
            # undo it: only acyclic graphs go on
            self.jobs[job].requires(self.jobs[required], remove=True)
            self.model.requires[job].discard(required)

    @precondition(lambda self: bool(self.populated()))
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        where = data.draw(st.sampled_from(self.populated()), label="scheduler")
        job = data.draw(st.sampled_from(self.model.members[where]), label="job")
        self.scheduler(where).remove(self.jobs[job])
        assert self.jobs[job].scheduler is None
        self.forget(where, job)

    @precondition(lambda self: bool(self.populated()))
    @rule(data=st.data())
    def bypass_and_remove(self, data: st.DataObject) -> None:
        where = data.draw(st.sampled_from(self.populated()), label="scheduler")
        job = data.draw(st.sampled_from(self.model.members[where]), label="job")
        self.scheduler(where).bypass_and_remove(self.jobs[job])
        upstream = self.model.requires[job]
        for other in self.model.members[where]:
            if job in self.model.requires[other]:
                self.model.requires[other].discard(job)
                self.model.requires[other] |= upstream - {other}
        self.forget(where, job)

    @precondition(lambda self: bool(self.populated()))
    @rule(data=st.data())
    def keep_only_between(self, data: st.DataObject) -> None:
        where = data.draw(st.sampled_from(self.populated()), label="scheduler")
        members = self.model.members[where]
        starts = data.draw(st.sets(st.sampled_from(members), max_size=2), label="starts")
        ends = data.draw(st.sets(st.sampled_from(members), max_size=2), label="ends")
        keep_starts = data.draw(st.booleans(), label="keep_starts")
        keep_ends = data.draw(st.booleans(), label="keep_ends")
        self.scheduler(where).keep_only_between(
            starts=[self.jobs[j] for j in starts],
            ends=[self.jobs[j] for j in ends],
            keep_starts=keep_starts,
            keep_ends=keep_ends,
        )
        kept = set(members)
        if starts:
            kept &= set().union(*(self.model.downstream(where, s) for s in starts))
        if ends:
            kept &= set().union(*(self.model.upstream(where, e) for e in ends))
        if keep_starts:
            kept |= starts
        if keep_ends:
            kept |= ends
        for job in [j for j in members if j not in kept]:
            self.forget(where, job)
        self.sanitize_model(where)

    @rule()
    def sanitize(self) -> None:
        dangling = any(self.model.dangling(s) for s in self.model.members if self.attached(s))
        assert self.top.sanitize() is not dangling
        self.sanitize_model("top")

    @rule()
    def run(self) -> None:
        attached = [s for s in self.model.members if self.attached(s)]
        if any(self.model.dangling(s) for s in attached):
            with pytest.raises(jg.UnknownRequirementError):
                jg.run(self.top, backend="trio")
            assert self.top.state is jg.JobState.IDLE  # refused before anything ran
            return
        events: list[jg.JobEvent] = []
        unsubscribe = self.top.subscribe(events.append)
        try:
            assert jg.run(self.top, backend="trio") is True
        finally:
            unsubscribe()
        order = {e.job.label: i for i, e in enumerate(events) if e.kind is jg.EventKind.STARTED}
        ends = {e.job.label: i for i, e in enumerate(events) if e.kind is jg.EventKind.FINISHED}
        for job in self.model.subtree("top"):
            record = self.jobs[job].record
            assert record.outcome == "ok", (job, record)
            if job not in self.model.members:
                assert self.jobs[job].result() == int(job[1:])
            for required in self.model.requires[job]:
                assert ends[required] < order[job], f"{job} started before {required} ended"
        self.top.reset()

    # -- model upkeep ---------------------------------------------------------------------
    def attached(self, scheduler: str) -> bool:
        while scheduler != "top":
            if scheduler not in self.model.parent:
                return False
            scheduler = self.model.parent[scheduler]
        return True

    def forget(self, where: str, job: str) -> None:
        self.model.drop(where, job)
        if job in self.model.members:  # a nested scheduler leaves with its jobs
            for inner in self.model.subtree(job):
                self.model.parent.pop(inner, None)
            for name in [s for s in self.model.members if s == job or not self.attached(s)]:
                del self.model.members[name]

    def sanitize_model(self, root: str) -> None:
        """What sanitize() on ``root`` does: at its level and below, drop requirements
        on jobs outside the same scheduler."""
        levels = [root] + [job for job in self.model.subtree(root) if job in self.model.members]
        for level in levels:
            members = self.model.members[level]
            mine = set(members)
            for job in members:
                self.model.requires[job] &= mine

    # -- invariants -----------------------------------------------------------------------
    @invariant()
    def graph_matches_the_model(self) -> None:
        model = self.model
        assert {j.label for j in self.top.iterate_jobs(scan_schedulers=True)} == set(
            model.subtree("top")
        )
        for name, members in model.members.items():
            scheduler = self.scheduler(name)
            assert [job.label for job in scheduler.jobs] == members
            assert len(scheduler) == len(members)
            mine = set(members)
            for job in members:
                obj = self.jobs[job]
                assert obj.scheduler is scheduler
                assert self.names_of(obj.requirements) == model.requires[job]
                assert self.names_of(scheduler.predecessors(obj)) == model.requires[job] & mine
                assert self.names_of(scheduler.successors(obj)) == {
                    other for other in members if job in model.requires[other]
                }
                assert self.names_of(scheduler.predecessors_upstream(obj)) == model.upstream(
                    name, job
                )
                assert self.names_of(scheduler.successors_downstream(obj)) == model.downstream(
                    name, job
                )
            assert [j.label for j in scheduler.entry_jobs()] == [
                j for j in members if not model.requires[j] & mine
            ]
            required = set().union(*(model.requires[j] for j in members)) if members else set()
            assert [j.label for j in scheduler.exit_jobs(discard_forever=False)] == [
                j for j in members if j not in required
            ]
            order = [job.label for job in scheduler.topological_order()]
            assert sorted(order) == sorted(members)
            for position, job in enumerate(order):
                assert model.requires[job] & mine <= set(order[:position])
        assert self.top.check_cycles()


GraphMachine.TestCase.settings = settings(
    max_examples=max(10, settings().max_examples),
    stateful_step_count=40,
    deadline=None,
)
test_graph_algebra_matches_a_model = GraphMachine.TestCase
