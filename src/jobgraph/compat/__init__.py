"""Adapters that let code written for other job libraries run on jobgraph's engine.

- :mod:`jobgraph.compat.asynciojobs`: the API of asynciojobs 0.21 (jobs built from
  coroutine objects, ``run()`` / ``co_run()``), so that a script only changes its
  imports. See ``docs/migrating.md``.

This package is the one place in ``jobgraph`` allowed to import :mod:`asyncio`.
"""

__all__: list[str] = []
