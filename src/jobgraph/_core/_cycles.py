"""Cycle detection and topological order over a set of jobs, in O(jobs + edges).

Used by the scheduler before a run (to name a cycle) and, through
:mod:`jobgraph.lowlevel`, by the views that order jobs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from ._exceptions import CycleError

if TYPE_CHECKING:
    from ._job import AbstractJob

__all__ = ["find_cycle", "topological_sort"]


def _members(jobs: Iterable[AbstractJob]) -> Mapping[AbstractJob, object]:
    return jobs if isinstance(jobs, dict) else dict.fromkeys(jobs)


def _kahn(
    jobs: Mapping[AbstractJob, object],
) -> tuple[list[AbstractJob], dict[AbstractJob, int]]:
    """Topological order of the jobs (requirements outside ``jobs`` ignored), and the
    requirement counts left for jobs that could not be ordered (those in or after a cycle)."""
    successors: dict[AbstractJob, list[AbstractJob]] = {job: [] for job in jobs}
    pending: dict[AbstractJob, int] = {}
    for job in jobs:
        count = 0
        for requirement in job._requires:
            if requirement in successors:
                successors[requirement].append(job)
                count += 1
        pending[job] = count
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


def find_cycle(jobs: Iterable[AbstractJob]) -> list[AbstractJob] | None:
    """A cycle among ``jobs``, in requirement order (each requires the next), or None.

    Args:
        jobs: the jobs to look at; requirements on jobs outside them are ignored.

    Returns:
        The jobs of one cycle, or None when the jobs form no cycle.
    """
    _, left = _kahn(_members(jobs))
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


def topological_sort(jobs: Iterable[AbstractJob]) -> list[AbstractJob]:
    """``jobs``, requirements first (ties in the given order).

    Args:
        jobs: the jobs to order; requirements on jobs outside them are ignored.

    Returns:
        A new list holding every job once.

    Raises:
        CycleError: the jobs form a cycle (the error names it).
    """
    members = _members(jobs)
    order, left = _kahn(members)
    if left:
        cycle = find_cycle(members)
        assert cycle is not None
        raise CycleError(cycle)
    return order
