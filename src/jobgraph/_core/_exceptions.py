"""The exceptions jobgraph raises, all rooted at :class:`JobGraphError`.

::

    JobGraphError
    ├── GraphError (also ValueError)          the shape of the graph is wrong
    │   ├── CycleError                        requirements form a cycle (names it)
    │   ├── UnknownRequirementError           a requirement is not in the same scheduler
    │   └── OwnershipError                    a job is already in another scheduler
    ├── JobDefinitionError (also TypeError)   a job or option is built from the wrong things
    ├── InvalidOptionError (also ValueError)  an option has a value out of range
    ├── RunStateError (also RuntimeError)     running twice, or asking for a result too early
    ├── CriticalJobError                      a critical job failed and aborted a run
    ├── JobTimeoutError (also TimeoutError)   one job exceeded its own ``timeout``
    ├── SchedulerTimeoutError (also TimeoutError)
    │                                         a scheduler exceeded its global ``timeout``
    ├── MissingDependencyError (also ImportError)
    │                                         an optional extra (trio, rich...) is not installed
    ├── ResultUnavailableError                a ``ResultOf`` names a job that has no result
    ├── ExecutorError                         running a job body away from the event loop
    │   ├── SerializationError (also TypeError)  a body, argument or result cannot be pickled
    │   ├── WorkerLostError                   the process or cluster worker died mid-job
    │   └── ExecutorUnavailableError          the executor cannot start (cluster unreachable)
    └── ServiceError                          the service framework (``jobgraph.services``)
        ├── ServiceDefinitionError, UnknownServiceError, AccessDeniedError,
        └── ServiceArgumentError, PoolClosedError   (see ``jobgraph.services``)

Every message names the job(s) at fault by label.
"""

from __future__ import annotations

import copyreg
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._job import AbstractJob

__all__ = [
    "CriticalJobError",
    "CycleError",
    "ExecutorError",
    "ExecutorUnavailableError",
    "GraphError",
    "InvalidOptionError",
    "JobDefinitionError",
    "JobGraphError",
    "JobTimeoutError",
    "MissingDependencyError",
    "OwnershipError",
    "RunStateError",
    "SchedulerTimeoutError",
    "SerializationError",
    "UnknownRequirementError",
    "WorkerLostError",
]


def _name(job: AbstractJob) -> str:
    return repr(job.label)


class JobGraphError(Exception):
    """Root of every exception raised by jobgraph itself.

    Errors pickle (to come back from a process or a cluster worker) with their message
    and attributes, except the jobs and schedulers they name, which become None: a job
    is not copied along with an error about it.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        state = {
            name: None if getattr(value, "_is_scheduler", None) is not None else value
            for name, value in self.__dict__.items()
        }
        if isinstance(state.get("cycle"), tuple):
            state["cycle"] = ()
        # rebuilt by BaseException.__new__ (which keeps the args) and the state, never
        # by __init__ (whose signature varies); only the public class name is pickled
        return (copyreg.__newobj__, (type(self), *self.args), state)  # type: ignore[attr-defined]


class MissingDependencyError(JobGraphError, ImportError):
    """A feature needs a package that is not installed; the message says which extra
    installs it, like ``pip install 'jobgraph[trio]'``.

    Args:
        feature: what was asked for, like ``'jobgraph.run(..., backend="trio")'``.
        package: the missing package (also the ``name`` of the ImportError).
        extra: the jobgraph extra that installs it.
    """

    def __init__(self, feature: str, package: str, extra: str) -> None:
        super().__init__(
            f"{feature} needs the {package!r} package, which is not installed: "
            f"pip install 'jobgraph[{extra}]'",
            name=package,
        )
        self.feature = feature
        self.package = package
        self.extra = extra

    def __reduce__(self) -> tuple[type[MissingDependencyError], tuple[str, str, str]]:
        return (type(self), (self.feature, self.package, self.extra))


def require(package: str, feature: str, extra: str) -> None:
    """Raise :class:`MissingDependencyError` unless ``package`` can be imported.

    Args:
        package: the top-level module to look for, like ``"hypothesis"``.
        feature: what needs it, for the message, like ``"jobgraph.testing"``.
        extra: the jobgraph extra that installs it, like ``"testing"``.

    Raises:
        MissingDependencyError: ``package`` is not installed (nothing is imported).
    """
    import importlib.util

    try:
        found = importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # a broken or half-imported package
        found = False
    if not found:
        raise MissingDependencyError(feature, package, extra)


class GraphError(JobGraphError, ValueError):
    """The graph of jobs cannot be run as it is."""


class CycleError(GraphError):
    """Requirements form a cycle; ``cycle`` lists its jobs in order.

    Args:
        cycle: the jobs of the cycle, each requiring the next (the last the first).
    """

    def __init__(self, cycle: Sequence[AbstractJob]) -> None:
        self.cycle = tuple(cycle)
        if len(self.cycle) == 1:
            super().__init__(f"job {_name(self.cycle[0])} cannot require itself")
            return
        path = " -> ".join(_name(job) for job in (*self.cycle, self.cycle[0]))
        super().__init__(f"requirements form a cycle: {path} (each job requires the next)")


class UnknownRequirementError(GraphError):
    """A job requires a job that is not in the same scheduler.

    Args:
        job: the job with the requirement.
        requirement: the job it requires.
        scheduler: the scheduler ``job`` is in.
    """

    def __init__(self, job: AbstractJob, requirement: AbstractJob, scheduler: AbstractJob) -> None:
        self.job = job
        self.requirement = requirement
        self.scheduler = scheduler
        what = f"job {_name(job)} requires {_name(requirement)}"
        holder = nested_holder(scheduler, requirement)
        if holder is not None:
            advice = (
                f"{what}, which is inside {_name(holder)}, a scheduler nested in "
                f"{_name(scheduler)}: require {_name(holder)} instead (a job can require "
                "only jobs of its own scheduler)"
            )
        else:
            home = requirement.scheduler
            giver = nested_holder(home, job)
            if home is not None and giver is not None:
                advice = (
                    f"{what}, which is in scheduler {_name(home)}, not in "
                    f"{_name(scheduler)}: make {_name(giver)} require it instead"
                )
            else:
                advice = f"{what}, which is not in scheduler {_name(scheduler)}; add it"
        super().__init__(f"{advice}, or call sanitize() to drop such requirements")


def nested_holder(scheduler: AbstractJob | None, job: AbstractJob) -> AbstractJob | None:
    """The job of ``scheduler`` that holds ``job`` in a nested scheduler, at any depth.

    Args:
        scheduler: the outer scheduler; None gives None.
        job: a job that may be inside a scheduler nested in ``scheduler``.

    Returns:
        The nested scheduler that is a direct job of ``scheduler`` and contains ``job``,
        or None if ``job`` is not in a scheduler nested in ``scheduler``.
    """
    if scheduler is None:
        return None
    owner = job.scheduler
    while owner is not None:
        if owner.scheduler is scheduler:
            return owner
        owner = owner.scheduler
    return None


class OwnershipError(GraphError):
    """A job was added to a scheduler while it belongs to another one."""


class JobDefinitionError(JobGraphError, TypeError):
    """A job, a sequence or an option was built from objects of the wrong kind."""


class InvalidOptionError(JobGraphError, ValueError):
    """An option has a value outside its range (a negative timeout, a window of -1...)."""


class RunStateError(JobGraphError, RuntimeError):
    """The operation does not fit the run's current state."""


class CriticalJobError(JobGraphError):
    """A critical job raised, which aborted the run of its scheduler.

    ``job`` is the job that failed and ``exception`` what it raised (also the
    ``__cause__``).  When the job sat in a nested scheduler, the error raised by the
    nested scheduler names the innermost job, so the top-level report says who failed.

    Args:
        job: the critical job that failed.
        exception: what it raised.
        scheduler: the scheduler whose run it aborted.
    """

    def __init__(self, job: AbstractJob, exception: BaseException, scheduler: AbstractJob) -> None:
        self.job = job
        self.exception = exception
        self.scheduler = scheduler
        super().__init__(
            f"critical job {_name(job)} in scheduler {_name(scheduler)} failed: "
            f"{type(exception).__name__}: {exception}"
        )


class JobTimeoutError(JobGraphError, TimeoutError):
    """A job ran for longer than its own ``timeout`` (one attempt).

    Args:
        job: the job that timed out.
        timeout: its per-attempt timeout, in seconds.
    """

    def __init__(self, job: AbstractJob, timeout: float) -> None:
        self.job = job
        self.timeout = timeout
        super().__init__(f"job {_name(job)} timed out after {timeout:g}s")


class SchedulerTimeoutError(JobGraphError, TimeoutError):
    """A scheduler's run exceeded its global ``timeout``.

    Args:
        scheduler: the scheduler that timed out.
        timeout: its whole-run timeout, in seconds.
    """

    def __init__(self, scheduler: AbstractJob, timeout: float) -> None:
        self.scheduler = scheduler
        self.timeout = timeout
        super().__init__(f"scheduler {_name(scheduler)} timed out after {timeout:g}s")


class ExecutorError(JobGraphError):
    """Running a job body through an executor (threads, processes, a cluster) failed."""


class SerializationError(ExecutorError, TypeError):
    """A job's body, one of its arguments or its result cannot be sent to where it runs.

    Args:
        job: the job (attribute ``job``).
        what: which part: ``"body"``, ``"argument 1"``, ``"keyword argument 'x'"``,
            ``"result"`` (attribute ``what``).
        obj: the object at fault (attribute ``obj``).
        reason: the error pickling it raised, quoted in the message.
    """

    def __init__(self, job: AbstractJob, what: str, obj: object, reason: BaseException) -> None:
        self.job = job
        self.what = what
        self.obj = obj
        text = repr(obj)
        if len(text) > 80:
            text = text[:77] + "..."
        super().__init__(
            f"job {_name(job)}: its {what} {text} cannot be pickled to run it away from the "
            f"event loop ({type(reason).__name__}: {reason})"
        )


class WorkerLostError(ExecutorError):
    """The process or cluster worker that ran a job died before the job ended.

    Retried like any failure when the job's :class:`~jobgraph.Retry` policy says so.

    Args:
        job: the job (attribute ``job``).
        where: which worker, like ``"a local process"`` (attribute ``where``).
        detail: what is known of its end, added to the message.
    """

    def __init__(self, job: AbstractJob, where: str, detail: str = "") -> None:
        self.job = job
        self.where = where
        super().__init__(
            f"job {_name(job)}: the worker running it ({where}) died"
            + (f": {detail}" if detail else "")
        )


class ExecutorUnavailableError(ExecutorError):
    """An executor could not start: a cluster cannot be reached, a pool cannot start."""
