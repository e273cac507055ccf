"""Imported first by :mod:`jobgraph.dask`: its packages.

Dask's client and workers, and cloudpickle for job bodies. A missing one raises
:class:`jobgraph.MissingDependencyError`, naming the extra that installs it
(``pip install 'jobgraph[dask]'``).
"""

from __future__ import annotations

from jobgraph.lowlevel import require

for _package in ("dask", "distributed", "cloudpickle"):
    require(_package, "jobgraph.dask", "dask")
