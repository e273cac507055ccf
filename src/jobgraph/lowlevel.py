"""The seam for extensions: what a job kind, a view, a service or an executor needs.

Everyday code needs only :mod:`jobgraph`. Code that extends it (a new kind of job such
as ``jobgraph_ssh.SshJob``, a view, a service pool, the asynciojobs compat layer) also
uses the names here, and nothing private: the packages ``jobgraph.services``,
``jobgraph.compat``, ``jobgraph.testing`` and ``jobgraph.views`` are written against
:mod:`jobgraph`, this module and :mod:`jobgraph.views` only (``tests/test_layers.py``
checks it).

What is here:

- the building blocks of job kinds: :class:`AbstractJob` (also in :mod:`jobgraph`),
  :class:`Schedulable` (a job or a sequence), the :data:`Requirement` type, the
  :class:`TaskStatusLike` protocol of ``task_status``, and :func:`flatten_schedulables` /
  :func:`jobs_of`, which read a ``requires=``-style argument the way the engine does;
- option checks that give the engine's errors: :func:`check_duration`;
- records and events, for views and executors: :class:`JobRecord`, :class:`JobState`,
  :class:`JobEvent`, :class:`EventKind`, :data:`Subscriber`, and :func:`deliver`, which
  calls subscribers the way the engine does (a failing subscriber is logged);
  :func:`emit_note`, with which a running job tells the run's subscribers something of
  its own (a ``NOTE`` event: an SSH job's connection state...), kept for
  :func:`notes_of` and the JSON report;
- what a run left on jobs and schedulers, read the way the engine reads it:
  :func:`record_of`, :func:`owner_of`, :func:`requirements_of`, :func:`failure_of`,
  :func:`stragglers_of`, and :func:`journal_mark_of` (what a journaled run says of a
  job: restored, or why it ran again), and :func:`abandon_journal`, which stops a
  journaled run's writes as a ``kill -9`` would (for crash tests in one process).
  Views and tools use these rather than ``job.record``,
  ``job.scheduler``, ``job.requirements``, ``scheduler.failure`` or
  ``scheduler.stragglers``, names that a job class may own for its own purposes (as
  asynciojobs-style subclasses do), and that no subclass can redefine;
- graph algorithms over a set of jobs: :func:`find_cycle`, :func:`topological_sort`;
  :func:`nested_holder`, which finds the job of a scheduler that holds a job nested
  deeper (how the engine explains a requirement it refuses);
- results flowing between jobs, for job kinds with arguments of their own:
  :class:`ResultOf`, :func:`find_placeholders` (the jobs to require) and
  :func:`resolve_placeholders` (just before the job starts);
- executors, for new kinds of them (``jobgraph.dask``): :class:`Executor`,
  :func:`serialize_call` (pickles a call, naming the job and the culprit on failure) and
  :func:`call_body` (runs a plain or async body synchronously where it lands), and
  :func:`set_record`, which brings back the outcome of jobs that ran elsewhere (jobs
  and schedulers pickle: a pickled scheduler takes its jobs along, a job leaves its
  scheduler behind), and :func:`relay_event`, which hands their events to the run's
  subscribers while they run there;
- :func:`require`, which an optional part calls before importing its third-party
  packages, so that a missing one is a :class:`jobgraph.MissingDependencyError` naming
  the extra to install, not a bare ``ModuleNotFoundError`` from deep inside;
- the run journal's codec: :func:`register_type` lets results of a class of your own
  (a dataclass, or with ``encode``/``decode``) be journaled, so that resume restores them;
- :func:`fixup_module_metadata`, which makes the names a public module re-exports
  report it as their module (``jobgraph.Scheduler``, not ``jobgraph._core._scheduler``).

The public names of :mod:`jobgraph` that views and job kinds take, return and raise
(:class:`~jobgraph.Scheduler`, :class:`~jobgraph.AbstractJob`, :class:`~jobgraph.JobState`,
the errors they raise...) are re-exported here, so that a module that :mod:`jobgraph`
itself imports (:mod:`jobgraph.views`, for :class:`~jobgraph.Progress`) reads them from
here, and imports do not go round in a circle.
"""

from ._core._codec import register_type
from ._core._cycles import find_cycle, topological_sort
from ._core._events import (
    EventKind,
    JobEvent,
    Subscriber,
    deliver,
    emit_note,
    notes_of,
    relay_event,
)
from ._core._exceptions import (
    CriticalJobError,
    CycleError,
    InvalidOptionError,
    JobDefinitionError,
    MissingDependencyError,
    RunStateError,
    nested_holder,
    require,
)
from ._core._executors import Executor, call_body, serialize_call
from ._core._job import (
    AbstractJob,
    Requirement,
    Schedulable,
    TaskStatusLike,
    flatten_schedulables,
    jobs_of,
    owner_of,
    record_of,
    requirements_of,
    set_record,
)
from ._core._placeholders import ResultOf, find_placeholders, resolve_placeholders
from ._core._policy import check_duration
from ._core._public import fixup_module_metadata
from ._core._record import JobRecord, JobState
from ._core._scheduler import (
    Scheduler,
    abandon_journal,
    failure_of,
    journal_mark_of,
    stragglers_of,
)

__all__ = [
    "AbstractJob",
    "CriticalJobError",
    "CycleError",
    "EventKind",
    "Executor",
    "InvalidOptionError",
    "JobDefinitionError",
    "JobEvent",
    "JobRecord",
    "JobState",
    "MissingDependencyError",
    "Requirement",
    "ResultOf",
    "RunStateError",
    "Schedulable",
    "Scheduler",
    "Subscriber",
    "TaskStatusLike",
    "abandon_journal",
    "call_body",
    "check_duration",
    "deliver",
    "emit_note",
    "failure_of",
    "find_cycle",
    "find_placeholders",
    "fixup_module_metadata",
    "flatten_schedulables",
    "jobs_of",
    "journal_mark_of",
    "nested_holder",
    "notes_of",
    "owner_of",
    "record_of",
    "register_type",
    "relay_event",
    "require",
    "requirements_of",
    "resolve_placeholders",
    "serialize_call",
    "set_record",
    "stragglers_of",
    "topological_sort",
]

fixup_module_metadata(__name__, globals())
