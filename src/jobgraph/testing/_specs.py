"""Descriptions of drawn graphs, and how to build real schedulers from them.

A :class:`SchedulerSpec` is a tree: its children are :class:`JobSpec` leaves and nested
:class:`SchedulerSpec` nodes. A child may require only children listed before it in
the same scheduler, so every drawn graph is acyclic by construction. ``sequences``
are ranges of consecutive children that :func:`build` chains with a
:class:`~jobgraph.Sequence`, so a child in a sequence also requires the one before it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from jobgraph import AbstractJob, Retry, Scheduler, Sequence
from jobgraph.lowlevel import Schedulable

from ._behaviours import Behaviour, BehaviourError, Recorder

if TYPE_CHECKING:
    from jobgraph.services import ServicePool

__all__ = ["Built", "JobSpec", "Node", "RetrySpec", "SchedulerSpec", "build"]

RetryOn = Literal["any", "behaviour", "timeout"]


@dataclass(frozen=True, slots=True)
class RetrySpec:
    """A :class:`~jobgraph.Retry` policy, drawn as data (``on`` named, no jitter by default).

    Attributes:
        attempts: as for :class:`~jobgraph.Retry`.
        backoff: as for :class:`~jobgraph.Retry`.
        factor: as for :class:`~jobgraph.Retry`.
        max_delay: as for :class:`~jobgraph.Retry`.
        jitter: as for :class:`~jobgraph.Retry`.
        on: which failures are retried: ``"any"`` (every exception), ``"behaviour"``
            (:class:`BehaviourError`) or ``"timeout"`` (:class:`~jobgraph.JobTimeoutError`).
    """

    attempts: int = 2
    backoff: float = 0.0
    factor: float = 2.0
    max_delay: float | None = None
    jitter: float = 0.0
    on: RetryOn = "any"

    def exception_types(self) -> tuple[type[Exception], ...]:
        """The exception classes ``on`` names.

        Returns:
            The classes, as :class:`~jobgraph.Retry` takes them.
        """
        from jobgraph import JobTimeoutError

        if self.on == "behaviour":
            return (BehaviourError,)
        if self.on == "timeout":
            return (JobTimeoutError,)
        return (Exception,)

    def build(self) -> Retry:
        """The policy this spec describes.

        Returns:
            A new :class:`~jobgraph.Retry`.

        Raises:
            InvalidOptionError: the drawn values are out of the policy's range.
        """
        return Retry(
            attempts=self.attempts,
            backoff=self.backoff,
            factor=self.factor,
            max_delay=self.max_delay,
            jitter=self.jitter,
            on=self.exception_types(),
        )


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One drawn job: a name (its label), a behaviour, its requirements and options.

    Attributes:
        name: the job's label, unique in the graph.
        behaviour: what its body does.
        requires: indices of earlier children of the same scheduler.
        critical: as for :class:`~jobgraph.Job`.
        forever: as for :class:`~jobgraph.Job`.
        timeout: as for :class:`~jobgraph.Job`.
        retry: the job's retry policy, or None.
        on_failed_requirement: as for :class:`~jobgraph.Job`.
    """

    name: str
    behaviour: Behaviour
    requires: tuple[int, ...] = ()
    critical: bool = False
    forever: bool = False
    timeout: float | None = None
    retry: RetrySpec | None = None
    on_failed_requirement: str = "run"


@dataclass(frozen=True, slots=True)
class SchedulerSpec:
    """A drawn scheduler; nested when it is the child of another one.

    Attributes:
        name: the scheduler's label, unique in the graph.
        children: its jobs and nested schedulers, in order.
        requires: indices of earlier children of its parent (nested ones only).
        critical: as for :class:`~jobgraph.Scheduler`.
        jobs_window: as for :class:`~jobgraph.Scheduler`.
        timeout: as for :class:`~jobgraph.Scheduler`.
        shutdown_timeout: as for :class:`~jobgraph.Scheduler`.
        on_failed_requirement: as for :class:`~jobgraph.Scheduler`.
        sequences: ``(start, stop)`` ranges of children chained by a
            :class:`~jobgraph.Sequence`.
        forever: always False (a scheduler is never a forever job).
    """

    name: str
    children: tuple[Node, ...] = ()
    requires: tuple[int, ...] = ()
    critical: bool = True
    jobs_window: int | None = None
    timeout: float | None = None
    shutdown_timeout: float = 1.0
    on_failed_requirement: str = "run"
    sequences: tuple[tuple[int, int], ...] = ()
    forever: bool = field(default=False, init=False)

    def walk(self) -> Iterator[tuple[Node, SchedulerSpec | None]]:
        """Every node of the tree with its parent, parents first.

        Yields:
            ``(node, parent)`` pairs; the parent of this scheduler is None.
        """
        stack: list[tuple[Node, SchedulerSpec | None]] = [(self, None)]
        while stack:
            node, parent = stack.pop()
            yield node, parent
            if isinstance(node, SchedulerSpec):
                stack.extend((child, node) for child in reversed(node.children))

    def expected_requirements(self, index: int) -> frozenset[int]:
        """The children that child ``index`` must require once built.

        Args:
            index: the child's index.

        Returns:
            The indices of its requirements, those its sequence adds included.
        """
        required = set(self.children[index].requires)
        for start, stop in self.sequences:
            if start < index < stop:
                required.add(index - 1)
        return frozenset(required)

    def size(self) -> int:
        """The number of nodes in the tree.

        Returns:
            The count, this scheduler included.
        """
        return sum(1 for _ in self.walk())


Node = JobSpec | SchedulerSpec


@dataclass(slots=True)
class Built:
    """A built graph: the top scheduler and, by name, every job and its spec.

    Attributes:
        scheduler: the top scheduler.
        jobs: every job (nested schedulers included), by name.
        specs: the spec of each, by name.
        parents: the name of each job's scheduler, by name.
        names: the name of each job, by ``id()`` of the job.
        pool: the service pool its service calls use (None if it makes none).
    """

    scheduler: Scheduler
    jobs: dict[str, AbstractJob]
    specs: dict[str, Node]
    parents: dict[str, str]
    names: dict[int, str]
    pool: ServicePool | None = None

    def name_of(self, job: object) -> str:
        """The drawn name of a job of this graph.

        Args:
            job: any object.

        Returns:
            Its name, or ``'?'`` for a stranger.
        """
        return self.names.get(id(job), "?")


def build(spec: SchedulerSpec, recorder: Recorder) -> Built:
    """Build the scheduler ``spec`` describes; every body takes notes in ``recorder``.

    Args:
        spec: the drawn graph.
        recorder: where the bodies take notes (its ``pool`` becomes the graph's).

    Each job is built by its behaviour's :meth:`~jobgraph.testing.Behaviour.make_job`
    (a :class:`~jobgraph.Job` for the behaviours of this package).

    Returns:
        The scheduler and its jobs, by name.

    Raises:
        JobGraphError: the engine refuses a drawn option (strategies draw valid ones).
    """
    built = Built(_new_scheduler(spec, []), {}, {}, {}, {}, recorder.pool)
    _fill(built.scheduler, spec, built, recorder)
    return built


def _new_scheduler(spec: SchedulerSpec, requires: list[AbstractJob]) -> Scheduler:
    return Scheduler(
        label=spec.name,
        critical=spec.critical,
        jobs_window=spec.jobs_window,
        timeout=spec.timeout,
        shutdown_timeout=spec.shutdown_timeout,
        on_failed_requirement=spec.on_failed_requirement,
        requires=requires,
    )


def _fill(scheduler: Scheduler, spec: SchedulerSpec, built: Built, recorder: Recorder) -> None:
    built.jobs[spec.name] = scheduler
    built.specs[spec.name] = spec
    built.names[id(scheduler)] = spec.name
    made: list[AbstractJob] = []
    for position, child in enumerate(spec.children):
        requires = [made[index] for index in child.requires]
        if isinstance(child, JobSpec):  # what its body sees when it starts
            recorder.requirements[child.name] = tuple(
                (spec.children[index].name, made[index])
                for index in sorted(spec.expected_requirements(position))
            )
        job: AbstractJob
        if isinstance(child, SchedulerSpec):
            job = _new_scheduler(child, requires)
            _fill(job, child, built, recorder)
        else:
            job = child.behaviour.make_job(
                child.name,
                recorder,
                label=child.name,
                critical=child.critical,
                forever=child.forever,
                timeout=child.timeout,
                retry=None if child.retry is None else child.retry.build(),
                on_failed_requirement=child.on_failed_requirement,
                requires=requires,
            )
            built.jobs[child.name] = job
            built.specs[child.name] = child
            built.names[id(job)] = child.name
        built.parents[child.name] = spec.name
        made.append(job)
    items: list[Schedulable] = []
    index = 0
    starts = dict(spec.sequences)
    while index < len(made):
        stop = starts.get(index)
        if stop is None:
            items.append(made[index])
            index += 1
        else:
            items.append(Sequence(*made[index:stop]))
            index = stop
    scheduler.update(tuple(items))
