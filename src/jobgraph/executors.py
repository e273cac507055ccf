"""Executors: where job bodies run (the event loop, threads, local processes).

See :mod:`jobgraph._core._executors`' overview in the docs (``docs/executors.md``); Dask
is in :mod:`jobgraph.dask`.
"""

from ._core._executors import Executor, LoopExecutor, ProcessExecutor, ThreadExecutor

__all__ = ["Executor", "LoopExecutor", "ProcessExecutor", "ThreadExecutor"]
