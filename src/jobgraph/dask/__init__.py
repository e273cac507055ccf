"""Run job bodies on a Dask cluster (the optional extra ``jobgraph[dask]``).

::

    import jobgraph as jg
    from jobgraph.dask import DaskExecutor

    cluster = DaskExecutor()                      # a LocalCluster for the run's duration
    jobs = [jg.Job(crunch, part, executor=cluster) for part in parts]
    total = jg.Job(sum_all, [jg.ResultOf(job) for job in jobs])
    jg.run(jg.Scheduler(*jobs, total))

A :class:`Shard` is a nested scheduler sent whole to one worker (a big fan-out split
into a few shards); its jobs' events stream back while it runs, and their records come
back into the local tree when it ends. See ``docs/executors.md``.
"""

from jobgraph.lowlevel import fixup_module_metadata as _fixup_module_metadata

# first: a missing extra is named, not a ModuleNotFoundError from deep inside
from . import _dependencies  # noqa: F401  # isort: split
from ._executor import DaskExecutor
from ._shard import Shard

__all__ = ["DaskExecutor", "Shard"]

_fixup_module_metadata(__name__, globals())
