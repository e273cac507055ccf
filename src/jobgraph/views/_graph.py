"""Graph operations on a scheduler's jobs, all O(jobs + edges)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from jobgraph._core._exceptions import CycleError, JobDefinitionError

if TYPE_CHECKING:
    from jobgraph._core._job import AbstractJob, Schedulable
    from jobgraph._core._scheduler import Scheduler

__all__ = ["GraphMixin"]


def _successor_map(jobs: dict[AbstractJob, None]) -> dict[AbstractJob, list[AbstractJob]]:
    """For each job, the jobs of the same scheduler that require it."""
    successors: dict[AbstractJob, list[AbstractJob]] = {job: [] for job in jobs}
    for job in jobs:
        for requirement in job._requires:
            if requirement in successors:
                successors[requirement].append(job)
    return successors


def _kahn(jobs: dict[AbstractJob, None]) -> tuple[list[AbstractJob], dict[AbstractJob, int]]:
    """Topological order of the jobs (requirements outside ``jobs`` ignored), and the
    requirement counts left for jobs that could not be ordered (those in or after a cycle)."""
    successors = _successor_map(jobs)
    pending = {job: sum(1 for requirement in job._requires if requirement in jobs) for job in jobs}
    queue = deque(job for job, count in pending.items() if count == 0)
    order: list[AbstractJob] = []
    while queue:
        job = queue.popleft()
        order.append(job)
        del pending[job]
        for successor in successors[job]:
            pending[successor] -= 1
            if pending[successor] == 0:
                queue.append(successor)
    return order, pending


def find_cycle(jobs: dict[AbstractJob, None]) -> list[AbstractJob] | None:
    """A cycle among the jobs, in requirement order (each requires the next), or None."""
    _, left = _kahn(jobs)
    if not left:
        return None
    # every job left has a requirement also left: walking up those must loop
    job = next(iter(left))
    seen: dict[AbstractJob, int] = {}
    path: list[AbstractJob] = []
    while job not in seen:
        seen[job] = len(path)
        path.append(job)
        job = next(requirement for requirement in job._requires if requirement in left)
    return path[seen[job] :]


class GraphMixin:
    """Graph algebra shared by schedulers (the core subset; views add more)."""

    _jobs: dict[AbstractJob, None]
    label: str

    def iterate_jobs(self, *, scan_schedulers: bool = False) -> Iterator[AbstractJob]:
        """Yield every job, descending into nested schedulers.

        With ``scan_schedulers=True`` nested schedulers are yielded too (before their
        jobs); otherwise only the jobs they contain are.
        """
        stack: list[Iterator[AbstractJob]] = [iter(tuple(self._jobs))]
        while stack:
            for job in stack[-1]:
                if job._is_scheduler:
                    if scan_schedulers:
                        yield job
                    stack.append(iter(tuple(job._jobs)))  # type: ignore[attr-defined]
                    break
                yield job
            else:
                stack.pop()

    def topological_order(self) -> Iterator[AbstractJob]:
        """Yield this scheduler's jobs, requirements first (ties in insertion order).

        Raises :class:`~jobgraph.CycleError` if the jobs form a cycle. Requirements on
        jobs outside the scheduler are ignored.
        """
        order, left = _kahn(self._jobs)
        if left:
            cycle = find_cycle(self._jobs)
            assert cycle is not None
            raise CycleError(cycle)
        return iter(order)

    def _raise_on_cycle(self) -> None:
        cycle = find_cycle(self._jobs)
        if cycle is not None:
            raise CycleError(cycle)

    def check_cycles(self) -> bool:
        """True if neither this scheduler nor any nested one has a cycle."""
        schedulers: list[GraphMixin] = [self]
        while schedulers:
            scheduler = schedulers.pop()
            if find_cycle(scheduler._jobs) is not None:
                return False
            schedulers.extend(job for job in scheduler._jobs if job._is_scheduler)  # type: ignore[misc]
        return True

    def sanitize(self) -> bool:
        """Drop requirements on jobs that are not in the same scheduler (at every level).

        Returns True if nothing had to be dropped.
        """
        fine = True
        schedulers: list[GraphMixin] = [self]
        while schedulers:
            scheduler = schedulers.pop()
            for job in scheduler._jobs:
                foreign = [r for r in job._requires if r not in scheduler._jobs]
                for requirement in foreign:
                    del job._requires[requirement]
                    fine = False
                if job._is_scheduler:
                    schedulers.append(job)  # type: ignore[arg-type]
        return fine

    def _as_scheduler(self) -> Scheduler:
        return self  # type: ignore[return-value]

    # -- neighbourhoods -------------------------------------------------------------
    def entry_jobs(self) -> Iterator[AbstractJob]:
        """Yield the jobs that require no job of this scheduler, in insertion order."""
        jobs = self._jobs
        for job in tuple(jobs):
            if not any(requirement in jobs for requirement in job._requires):
                yield job

    def exit_jobs(self, *, discard_forever: bool = True) -> Iterator[AbstractJob]:
        """Yield the jobs that no job of this scheduler requires, in insertion order.

        Forever jobs are left out unless ``discard_forever=False``: they seldom have
        dependents, and are seldom what one means by the end of a graph.
        """
        required: set[AbstractJob] = set()
        for job in self._jobs:
            required.update(job._requires)
        for job in tuple(self._jobs):
            if job in required or (discard_forever and job.forever):
                continue
            yield job

    def predecessors(self, *jobs: AbstractJob) -> set[AbstractJob]:
        """The jobs of this scheduler that any of ``jobs`` directly requires."""
        _check_jobs("predecessors", jobs)
        mine = self._jobs
        return {r for job in jobs for r in job._requires if r in mine}

    def successors(self, *jobs: AbstractJob) -> set[AbstractJob]:
        """The jobs of this scheduler that directly require any of ``jobs``."""
        _check_jobs("successors", jobs)
        starts = set(jobs)
        return {job for job in self._jobs if not starts.isdisjoint(job._requires)}

    def predecessors_upstream(self, *jobs: AbstractJob) -> set[AbstractJob]:
        """Every job of this scheduler that any of ``jobs`` requires, directly or not.

        The given jobs are included only when they require themselves through a cycle.
        """
        _check_jobs("predecessors_upstream", jobs)
        mine = self._jobs
        found: set[AbstractJob] = set()
        stack = [r for job in jobs for r in job._requires if r in mine]
        while stack:
            job = stack.pop()
            if job in found:
                continue
            found.add(job)
            stack.extend(r for r in job._requires if r in mine and r not in found)
        return found

    def successors_downstream(self, *jobs: AbstractJob) -> set[AbstractJob]:
        """Every job of this scheduler that requires any of ``jobs``, directly or not."""
        _check_jobs("successors_downstream", jobs)
        successors = _successor_map(self._jobs)
        found: set[AbstractJob] = set()
        stack = [s for job in jobs for s in successors.get(job, ())]
        while stack:
            job = stack.pop()
            if job in found:
                continue
            found.add(job)
            stack.extend(s for s in successors[job] if s not in found)
        return found

    # -- surgery ------------------------------------------------------------------
    def _members(self, items: Iterable[Any] | Schedulable | None) -> set[AbstractJob]:
        from jobgraph._core._job import flatten_schedulables

        if items is None:
            return set()
        return {
            job
            for item in flatten_schedulables((items,), "a job selection")
            for job in item._member_jobs()
        }

    def _drop_all_but(self, keep: set[AbstractJob]) -> None:
        scheduler = self._as_scheduler()
        scheduler._check_not_running("remove jobs from")
        for job in [job for job in self._jobs if job not in keep]:
            scheduler.remove(job)
        self.sanitize()

    def keep_only(self, jobs: Iterable[Any] | Schedulable) -> None:
        """Remove every job not in ``jobs`` (jobs or sequences; others are ignored),
        then drop the requirements on removed jobs (see :meth:`sanitize`)."""
        self._drop_all_but(self._members(jobs))

    def keep_only_between(
        self,
        *,
        starts: Iterable[Any] | Schedulable | None = None,
        ends: Iterable[Any] | Schedulable | None = None,
        keep_starts: bool = True,
        keep_ends: bool = True,
    ) -> None:
        """Keep the jobs downstream of any of ``starts`` and upstream of any of ``ends``.

        An empty or missing ``starts`` (or ``ends``) sets no bound on that side. The
        starts and ends themselves are kept unless ``keep_starts`` / ``keep_ends`` is
        False. Requirements on removed jobs are dropped.
        """
        first = self._members(starts)
        last = self._members(ends)
        kept = set(self._jobs)
        if first:
            kept &= self.successors_downstream(*first)
        if last:
            kept &= self.predecessors_upstream(*last)
        if keep_starts:
            kept |= first
        if keep_ends:
            kept |= last
        self._drop_all_but(kept)

    def bypass_and_remove(self, job: AbstractJob) -> None:
        """Remove ``job``, making each job that required it require what it required.

        The job must be one of this scheduler's own jobs (not in a nested one);
        ``ValueError`` otherwise.
        """
        _check_jobs("bypass_and_remove", (job,))
        if job not in self._jobs:
            raise ValueError(f"job {job.label!r} is not in scheduler {self.label!r}")
        upstream = tuple(job._requires)
        for down in self._jobs:
            if job in down._requires:
                del down._requires[job]
                for up in upstream:
                    if up is not down:
                        down._requires[up] = None
        self._as_scheduler().remove(job)


def _check_jobs(method: str, jobs: Iterable[object]) -> None:
    from jobgraph._core._job import AbstractJob

    for job in jobs:
        if not isinstance(job, AbstractJob):
            raise JobDefinitionError(f"{method}() takes jobs, not {job!r}")
