"""The run journal: record runs in an SQLite file, resume them, read them back.

Record and resume from :func:`jobgraph.run` (or ``await scheduler.run(...)``)::

    ok = jg.run(pipeline, journal="runs.db")               # records the run
    ok = jg.run(pipeline, journal="runs.db", resume=True)  # runs only what did not succeed

Read past runs with :class:`Journal` (``Journal("runs.db").runs()``, ``.jobs(run)``,
``.debrief(run)``, ``.diff(a, b)``) or from the shell::

    python -m jobgraph.journal runs.db            # the runs
    python -m jobgraph.journal runs.db show 3     # the debrief of run 3
    python -m jobgraph.journal runs.db diff 2 3   # what changed
"""

from jobgraph import DuplicateKeyError, Journal, JournalError
from jobgraph._core._journal import JobEntry, RunInfo
from jobgraph.lowlevel import fixup_module_metadata, register_type

__all__ = ["DuplicateKeyError", "JobEntry", "Journal", "JournalError", "RunInfo", "register_type"]

fixup_module_metadata(__name__, globals())
