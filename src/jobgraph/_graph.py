"""Graph operations on a scheduler's jobs, all O(jobs + edges)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ._exceptions import CycleError

if TYPE_CHECKING:
    from ._job import AbstractJob
    from ._scheduler import Scheduler

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
