"""Imported first by :mod:`jobgraph.testing`: its packages.

The harness draws with hypothesis and runs on trio's MockClock. A missing one raises
:class:`jobgraph.MissingDependencyError`, naming the extra that installs it
(``pip install 'jobgraph[testing]'``).
"""

from __future__ import annotations

from jobgraph.lowlevel import require

for _package in ("hypothesis", "trio"):
    require(_package, "jobgraph.testing", "testing")
