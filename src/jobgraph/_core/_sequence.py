"""Sequence: jobs that run one after the other, usable wherever a job is."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Self

from ._job import AbstractJob, Requirement, Schedulable, _check_scheduler, flatten_schedulables

if TYPE_CHECKING:
    from ._scheduler import Scheduler

__all__ = ["Sequence"]


class Sequence(Schedulable):
    """Chains jobs and sequences: each one requires the one before it.

    A sequence is not itself a job: adding it to a scheduler adds its jobs; requiring
    it requires its last job; giving it requirements gives them to its first job.
    Nested sequences are flattened.

    Args:
        *jobs_or_sequences: the jobs and sequences to chain, in order.
        requires: requirements of the first job (see :meth:`requires`).
        scheduler: a scheduler to add the jobs to at once.

    Raises:
        JobDefinitionError: an item is neither a job nor a sequence, or ``scheduler``
            is not a scheduler.
    """

    __slots__ = ("_jobs",)

    def __init__(
        self,
        *jobs_or_sequences: Schedulable,
        requires: Requirement = None,
        scheduler: Scheduler | None = None,
    ) -> None:
        if scheduler is not None:
            _check_scheduler(scheduler)
        self._jobs: list[AbstractJob] = []
        self.append(*jobs_or_sequences)
        if requires is not None:
            self.requires(requires)
        if scheduler is not None:
            scheduler.add(self)

    @property
    def jobs(self) -> tuple[AbstractJob, ...]:
        """The jobs of the sequence, in order."""
        return tuple(self._jobs)

    def append(self, *jobs_or_sequences: Schedulable) -> Self:
        """Add jobs or sequences at the end; the first one added requires the current end.

        Args:
            *jobs_or_sequences: jobs, sequences or nested iterables of them (``None`` is
                ignored), chained in order.

        Returns:
            The sequence, for chaining.

        Raises:
            JobDefinitionError: an item is neither a job, a sequence nor an iterable.
        """
        for item in flatten_schedulables(jobs_or_sequences, "Sequence()"):
            for job in item._member_jobs():
                if self._jobs and job is not self._jobs[-1]:
                    job.requires(self._jobs[-1])
                self._jobs.append(job)
        return self

    def requires(self, *requirements: Requirement, remove: bool = False) -> Self:
        """Give requirements to (or with ``remove=True`` take them from) the first job.

        Args:
            *requirements: as for :meth:`AbstractJob.requires`.
            remove: drop these requirements instead.

        Returns:
            The sequence, for chaining.

        Raises:
            KeyError: with ``remove=True``, a job the first job does not require.
        """
        if self._jobs:
            self._jobs[0].requires(*requirements, remove=remove)
        return self

    def _member_jobs(self) -> Iterator[AbstractJob]:
        return iter(self._jobs)

    def _head_jobs(self) -> Iterator[AbstractJob]:
        return iter(self._jobs[:1])

    def _tail_jobs(self) -> Iterator[AbstractJob]:
        return iter(self._jobs[-1:])

    def __len__(self) -> int:
        return len(self._jobs)

    def __repr__(self) -> str:
        return f"<Sequence of {len(self._jobs)} job(s)>"
