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
        return (_rebuild, (type(self), self.args, state))


def _rebuild(cls: type[JobGraphError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class GraphError(JobGraphError, ValueError):
    """The graph of jobs cannot be run as it is."""


class CycleError(GraphError):
    """Requirements form a cycle; :attr:`cycle` lists its jobs in order."""

    def __init__(self, cycle: Sequence[AbstractJob]) -> None:
        self.cycle = tuple(cycle)
        path = " -> ".join(_name(job) for job in (*self.cycle, self.cycle[0]))
        super().__init__(f"requirements form a cycle: {path} (each job requires the next)")


class UnknownRequirementError(GraphError):
    """A job requires a job that is not in the same scheduler."""

    def __init__(self, job: AbstractJob, requirement: AbstractJob, scheduler: AbstractJob) -> None:
        self.job = job
        self.requirement = requirement
        super().__init__(
            f"job {_name(job)} requires {_name(requirement)}, which is not in scheduler "
            f"{_name(scheduler)}; add it, or call sanitize() to drop such requirements"
        )


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

    :attr:`job` is the job that failed and :attr:`exception` what it raised (also the
    ``__cause__``).  When the job sat in a nested scheduler, the error raised by the
    nested scheduler names the innermost job, so the top-level report says who failed.
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
    """A job ran for longer than its own ``timeout`` (one attempt)."""

    def __init__(self, job: AbstractJob, timeout: float) -> None:
        self.job = job
        self.timeout = timeout
        super().__init__(f"job {_name(job)} timed out after {timeout:g}s")


class SchedulerTimeoutError(JobGraphError, TimeoutError):
    """A scheduler's run exceeded its global ``timeout``."""

    def __init__(self, scheduler: AbstractJob, timeout: float) -> None:
        self.scheduler = scheduler
        self.timeout = timeout
        super().__init__(f"scheduler {_name(scheduler)} timed out after {timeout:g}s")


class ExecutorError(JobGraphError):
    """Running a job body through an executor (threads, processes, a cluster) failed."""


class SerializationError(ExecutorError, TypeError):
    """A job's body, one of its arguments or its result cannot be sent to where it runs.

    :attr:`job` is the job, :attr:`what` says which part (``"body"``, ``"argument 1"``,
    ``"keyword argument 'x'"``, ``"result"``) and :attr:`obj` is the object at fault.
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
