"""Adapters that let code written for other job libraries run on jobgraph's engine.

- :mod:`jobgraph.compat.asynciojobs`: the API of asynciojobs 0.21 (jobs built from
  coroutine objects, ``run()`` / ``co_run()``), so that a script only changes its
  imports. See ``docs/migrating.md``.

This package is the one place in ``jobgraph`` allowed to import :mod:`asyncio`. It also
offers the helper the drop-ins share (``jobgraph_ssh.compat.apssh`` uses it too):

- :func:`run_sync`: run a coroutine to completion from synchronous code, on a helper
  thread when the calling thread already runs an event loop.
"""

from jobgraph.lowlevel import fixup_module_metadata as _fixup_module_metadata

from .asynciojobs._jobs import run_sync

__all__ = ["run_sync"]

_fixup_module_metadata(__name__, globals())
