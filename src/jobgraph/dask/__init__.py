"""Run job bodies on a Dask cluster (the optional extra ``jobgraph[dask]``).

::

    import jobgraph as jg
    from jobgraph.dask import DaskExecutor

    cluster = DaskExecutor()                      # a LocalCluster for the run's duration
    jobs = [jg.Job(crunch, part, executor=cluster) for part in parts]
    total = jg.Job(sum_all, [jg.ResultOf(job) for job in jobs])
    jg.run(jg.Scheduler(*jobs, total))

See ``docs/executors.md``.
"""

from ._executor import DaskExecutor

__all__ = ["DaskExecutor"]
