"""apssh's module deferred (for imports like ``from apssh.deferred import ...``)."""

from jobgraph_ssh import Capture, Deferred, Variables

__all__ = [
    "Capture",
    "Deferred",
    "Variables",
]
