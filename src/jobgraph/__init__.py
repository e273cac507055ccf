"""jobgraph: graphs of async jobs, run with structured concurrency on anyio.

A :class:`Scheduler` holds jobs; a job starts once every job it requires is done.
Runs work under asyncio and trio alike::

    import jobgraph as jg

    a = jg.Job(fetch, url, label="fetch", timeout=10, retry=jg.Retry(attempts=3))
    b = jg.Job(parse, label="parse", requires=a)
    ok = jg.run(jg.Scheduler(a, b), backend="trio")
"""

from ._core._events import EventKind, JobEvent, Subscriber
from ._core._exceptions import (
    CriticalJobError,
    CycleError,
    ExecutorError,
    ExecutorUnavailableError,
    GraphError,
    InvalidOptionError,
    JobDefinitionError,
    JobGraphError,
    JobTimeoutError,
    MissingDependencyError,
    OwnershipError,
    RunStateError,
    SchedulerTimeoutError,
    SerializationError,
    UnknownRequirementError,
    WorkerLostError,
)
from ._core._executors import Executor, LoopExecutor, ProcessExecutor, ThreadExecutor
from ._core._job import AbstractJob, Job, TaskStatusLike
from ._core._journal import DuplicateKeyError, Journal, JournalError
from ._core._placeholders import ResultOf, ResultUnavailableError, resolve_placeholders
from ._core._policy import OnFailedRequirement, Retry
from ._core._public import fixup_module_metadata as _fixup_module_metadata
from ._core._record import JobRecord, JobState
from ._core._scheduler import Scheduler
from ._core._sequence import Sequence
from ._entry import run
from .views import Progress

__version__ = "0.1.0"

__all__ = [
    "AbstractJob",
    "CriticalJobError",
    "CycleError",
    "DuplicateKeyError",
    "EventKind",
    "Executor",
    "ExecutorError",
    "ExecutorUnavailableError",
    "GraphError",
    "InvalidOptionError",
    "Job",
    "JobDefinitionError",
    "JobEvent",
    "JobGraphError",
    "JobRecord",
    "JobState",
    "JobTimeoutError",
    "Journal",
    "JournalError",
    "LoopExecutor",
    "MissingDependencyError",
    "OnFailedRequirement",
    "OwnershipError",
    "ProcessExecutor",
    "Progress",
    "ResultOf",
    "ResultUnavailableError",
    "Retry",
    "RunStateError",
    "Scheduler",
    "SchedulerTimeoutError",
    "Sequence",
    "SerializationError",
    "Subscriber",
    "TaskStatusLike",
    "ThreadExecutor",
    "UnknownRequirementError",
    "WorkerLostError",
    "__version__",
    "resolve_placeholders",
    "run",
]

_fixup_module_metadata(__name__, globals(), also_from=("jobgraph.lowlevel", "jobgraph.views"))
