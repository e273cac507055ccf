"""Graph queries and edits on a scheduler's jobs, all O(jobs + edges).

Functions of a scheduler, reading it through its public accessors (``jobs``, a job's
``requirements``) and editing it through its public methods (``remove()``, a job's
``requires()``). :class:`~jobgraph.Scheduler` exposes each as a method of the same name
(``s.topological_order()``...), which subclasses may override; these functions call the
scheduler's methods where one query builds on another, so such overrides are honoured.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from jobgraph.lowlevel import (
    AbstractJob,
    JobDefinitionError,
    RunStateError,
    Schedulable,
    Scheduler,
    find_cycle,
    jobs_of,
    nested_holder,
    owner_of,
    requirements_of,
    topological_sort,
)

__all__ = [
    "bypass_and_remove",
    "check_cycles",
    "entry_jobs",
    "exit_jobs",
    "iterate_jobs",
    "keep_only",
    "keep_only_between",
    "predecessors",
    "predecessors_upstream",
    "refused_requirements",
    "sanitize",
    "successors",
    "successors_downstream",
    "topological_order",
]


def _successor_map(jobs: dict[AbstractJob, None]) -> dict[AbstractJob, list[AbstractJob]]:
    """For each job, the jobs of the same scheduler that require it."""
    successors: dict[AbstractJob, list[AbstractJob]] = {job: [] for job in jobs}
    for job in jobs:
        for requirement in requirements_of(job):
            if requirement in successors:
                successors[requirement].append(job)
    return successors


def _schedulers(scheduler: Scheduler) -> Iterator[Scheduler]:
    """The scheduler and every scheduler nested in it, at any depth."""
    stack = [scheduler]
    while stack:
        level = stack.pop()
        yield level
        stack.extend(job for job in level.jobs if isinstance(job, Scheduler))


def refused_requirements(job: AbstractJob) -> list[tuple[AbstractJob, AbstractJob | None]]:
    """The requirements of ``job`` that :meth:`~jobgraph.Scheduler.run` refuses.

    A job may require only jobs of its own scheduler; listings and drawings flag the
    others rather than drop them.

    Args:
        job: any job.

    Returns:
        For each requirement outside the job's scheduler, in order: the requirement and
        the job of that scheduler holding it in a nested scheduler (the job to require
        instead), or None when the requirement is elsewhere. Empty for a job that is
        in no scheduler.
    """
    level = owner_of(job)
    if level is None:
        return []
    return [
        (requirement, nested_holder(level, requirement))
        for requirement in requirements_of(job)
        if requirement not in level
    ]


def iterate_jobs(scheduler: Scheduler, *, scan_schedulers: bool = False) -> Iterator[AbstractJob]:
    """Yield every job of ``scheduler``, descending into nested schedulers.

    Args:
        scheduler: the scheduler to walk.
        scan_schedulers: also yield nested schedulers (before their jobs); otherwise
            only the jobs they contain are yielded.

    Yields:
        The jobs, depth first, in insertion order.
    """
    stack: list[Iterator[AbstractJob]] = [iter(tuple(scheduler.jobs))]
    while stack:
        for job in stack[-1]:
            if isinstance(job, Scheduler):
                if scan_schedulers:
                    yield job
                stack.append(iter(tuple(job.jobs)))
                break
            yield job
        else:
            stack.pop()


def topological_order(scheduler: Scheduler) -> Iterator[AbstractJob]:
    """The scheduler's own jobs, requirements first (ties in insertion order).

    Requirements on jobs outside the scheduler are ignored. The order is computed when
    called, so a cycle raises at once.

    Args:
        scheduler: the scheduler to look at.

    Returns:
        An iterator over the jobs.

    Raises:
        CycleError: the jobs form a cycle.
    """
    return iter(topological_sort(scheduler.jobs))


def check_cycles(scheduler: Scheduler) -> bool:
    """Whether the graph is free of cycles, nested schedulers included.

    Args:
        scheduler: the scheduler to look at.

    Returns:
        True if neither ``scheduler`` nor any scheduler nested in it has a cycle.
    """
    return all(find_cycle(level.jobs) is None for level in _schedulers(scheduler))


def sanitize(scheduler: Scheduler) -> bool:
    """Drop requirements on jobs that are not in the same scheduler (at every level).

    Args:
        scheduler: the scheduler to edit.

    Returns:
        True if nothing had to be dropped.
    """
    fine = True
    for level in _schedulers(scheduler):
        members = dict.fromkeys(level.jobs)
        for job in members:
            foreign = [r for r in requirements_of(job) if r not in members]
            if foreign:
                job.requires(foreign, remove=True)
                fine = False
    return fine


def entry_jobs(scheduler: Scheduler) -> Iterator[AbstractJob]:
    """The jobs that require no job of the scheduler.

    Args:
        scheduler: the scheduler to look at.

    Yields:
        Those jobs, in insertion order.
    """
    jobs = dict.fromkeys(scheduler.jobs)
    for job in jobs:
        if not any(requirement in jobs for requirement in requirements_of(job)):
            yield job


def exit_jobs(scheduler: Scheduler, *, discard_forever: bool = True) -> Iterator[AbstractJob]:
    """The jobs that no job of the scheduler requires.

    Args:
        scheduler: the scheduler to look at.
        discard_forever: leave forever jobs out (the default): they seldom have
            dependents, and are seldom what one means by the end of a graph.

    Yields:
        Those jobs, in insertion order.
    """
    jobs = tuple(scheduler.jobs)
    required: set[AbstractJob] = set()
    for job in jobs:
        required.update(requirements_of(job))
    for job in jobs:
        if job in required or (discard_forever and job.forever):
            continue
        yield job


def _check_jobs(method: str, jobs: Iterable[object]) -> None:
    for job in jobs:
        if not isinstance(job, AbstractJob):
            raise JobDefinitionError(f"{method}() takes jobs, not {job!r}")


def predecessors(scheduler: Scheduler, *jobs: AbstractJob) -> set[AbstractJob]:
    """The jobs of the scheduler that any of ``jobs`` directly requires.

    Args:
        scheduler: the scheduler to look at.
        *jobs: the jobs to look from.

    Returns:
        Those jobs.

    Raises:
        JobDefinitionError: one of ``jobs`` is not a job.
    """
    _check_jobs("predecessors", jobs)
    mine = dict.fromkeys(scheduler.jobs)
    return {r for job in jobs for r in requirements_of(job) if r in mine}


def successors(scheduler: Scheduler, *jobs: AbstractJob) -> set[AbstractJob]:
    """The jobs of the scheduler that directly require any of ``jobs``.

    Args:
        scheduler: the scheduler to look at.
        *jobs: the jobs to look from.

    Returns:
        Those jobs.

    Raises:
        JobDefinitionError: one of ``jobs`` is not a job.
    """
    _check_jobs("successors", jobs)
    starts = set(jobs)
    return {job for job in scheduler.jobs if not starts.isdisjoint(requirements_of(job))}


def predecessors_upstream(scheduler: Scheduler, *jobs: AbstractJob) -> set[AbstractJob]:
    """Every job of the scheduler that any of ``jobs`` requires, directly or not.

    The given jobs are included only when they require themselves through a cycle.

    Args:
        scheduler: the scheduler to look at.
        *jobs: the jobs to look from.

    Returns:
        Those jobs.

    Raises:
        JobDefinitionError: one of ``jobs`` is not a job.
    """
    _check_jobs("predecessors_upstream", jobs)
    mine = dict.fromkeys(scheduler.jobs)
    found: set[AbstractJob] = set()
    stack = [r for job in jobs for r in requirements_of(job) if r in mine]
    while stack:
        job = stack.pop()
        if job in found:
            continue
        found.add(job)
        stack.extend(r for r in requirements_of(job) if r in mine and r not in found)
    return found


def successors_downstream(scheduler: Scheduler, *jobs: AbstractJob) -> set[AbstractJob]:
    """Every job of the scheduler that requires any of ``jobs``, directly or not.

    Args:
        scheduler: the scheduler to look at.
        *jobs: the jobs to look from.

    Returns:
        Those jobs.

    Raises:
        JobDefinitionError: one of ``jobs`` is not a job.
    """
    _check_jobs("successors_downstream", jobs)
    successors = _successor_map(dict.fromkeys(scheduler.jobs))
    found: set[AbstractJob] = set()
    stack = [s for job in jobs for s in successors.get(job, ())]
    while stack:
        job = stack.pop()
        if job in found:
            continue
        found.add(job)
        stack.extend(s for s in successors[job] if s not in found)
    return found


def _members(items: Iterable[Any] | Schedulable | None) -> set[AbstractJob]:
    if items is None:
        return set()
    return set(jobs_of((items,), "a job selection"))


def _drop_all_but(scheduler: Scheduler, keep: set[AbstractJob]) -> None:
    if scheduler.running:  # checked first: a refused call changes nothing
        raise RunStateError(f"cannot remove jobs from scheduler {scheduler.label!r} while it runs")
    for job in [job for job in scheduler.jobs if job not in keep]:
        scheduler.remove(job)
    scheduler.sanitize()


def keep_only(scheduler: Scheduler, jobs: Iterable[Any] | Schedulable) -> None:
    """Remove every job not in ``jobs``, then drop the requirements on removed jobs.

    Args:
        scheduler: the scheduler to edit.
        jobs: jobs or sequences (nested iterables allowed); others are ignored.

    Raises:
        RunStateError: the scheduler is running.
    """
    _drop_all_but(scheduler, _members(jobs))


def keep_only_between(
    scheduler: Scheduler,
    *,
    starts: Iterable[Any] | Schedulable | None = None,
    ends: Iterable[Any] | Schedulable | None = None,
    keep_starts: bool = True,
    keep_ends: bool = True,
) -> None:
    """Keep the jobs downstream of any of ``starts`` and upstream of any of ``ends``.

    Requirements on removed jobs are dropped.

    Args:
        scheduler: the scheduler to edit.
        starts: jobs or sequences; empty or None sets no bound upstream.
        ends: jobs or sequences; empty or None sets no bound downstream.
        keep_starts: keep the starts themselves.
        keep_ends: keep the ends themselves.

    Raises:
        RunStateError: the scheduler is running.
    """
    first = _members(starts)
    last = _members(ends)
    kept = set(scheduler.jobs)
    if first:
        kept &= scheduler.successors_downstream(*first)
    if last:
        kept &= scheduler.predecessors_upstream(*last)
    if keep_starts:
        kept |= first
    if keep_ends:
        kept |= last
    _drop_all_but(scheduler, kept)


def bypass_and_remove(scheduler: Scheduler, job: AbstractJob) -> None:
    """Remove ``job``, making each job that required it require what it required.

    Args:
        scheduler: the scheduler to edit.
        job: one of its own jobs.

    Raises:
        JobDefinitionError: ``job`` is not a job.
        ValueError: ``job`` is not one of the scheduler's own jobs (nested ones do not
            count).
        RunStateError: the scheduler is running.
    """
    _check_jobs("bypass_and_remove", (job,))
    if job not in scheduler:
        raise ValueError(f"job {job.label!r} is not in scheduler {scheduler.label!r}")
    upstream = requirements_of(job)
    for down in scheduler.jobs:
        if job in requirements_of(down):
            down.requires(job, remove=True)
            down.requires([up for up in upstream if up is not down])
    scheduler.remove(job)
