"""The asynciojobs 0.21 API, as a thin adapter over jobgraph's one engine.

Scripts written for asynciojobs change only their imports::

    from jobgraph.compat.asynciojobs import Job, Scheduler, Sequence

    s = Scheduler(Job(fetch("a")), Job(fetch("b")), jobs_window=1)
    ok = s.run()            # synchronous; inside async code: ok = await s.co_run()

How it maps onto the native engine (there is no second run loop here):

- a :class:`Job` keeps the *coroutine object* it was given; the native engine calls
  the job's ``co_run()``, which awaits it. An :class:`AbstractJob` subclass implements
  ``co_run()`` / ``co_shutdown()`` as in asynciojobs;
- :class:`PureScheduler` and :class:`Scheduler` are native
  :class:`jobgraph.Scheduler` subclasses whose ``run()`` is the synchronous wrapper
  and ``co_run()`` the coroutine. A critical :class:`Scheduler` raises the exception
  of the job that failed (or a :class:`TimeoutError`), where a native one raises
  :class:`~jobgraph.CriticalJobError`; a non-critical one returns False;
- a job is *done* once it completed (with a result or an exception); a job that was
  cancelled (a forever job at the end of a run, anything running at a timeout) is
  *running*, never *done*, as with asynciojobs.

``co_run()`` runs under asyncio and, when the jobs' coroutines allow it, under trio.
``run()`` makes a fresh asyncio event loop at each call. Called from a thread where
an event loop already runs (a notebook, asyncio or trio code), it runs the scheduler
in a new loop on a helper thread and blocks until it is done (asynciojobs raises
there); awaiting ``co_run()`` is the better choice in async code. The differences with
asynciojobs are listed in ``docs/migrating.md``.
"""

from jobgraph.lowlevel import fixup_module_metadata as _fixup_module_metadata

from ._jobs import AbstractJob, Job, PrintJob, Sequence
from ._schedulers import PureScheduler, Scheduler, set_debug
from ._watch import Watch

__all__ = [
    "AbstractJob",
    "Job",
    "PrintJob",
    "PureScheduler",
    "Scheduler",
    "Sequence",
    "Watch",
    "__version__",
    "set_debug",
]

__version__ = "0.21.3"  # the asynciojobs release whose API this package offers

_fixup_module_metadata(__name__, globals())
