"""apssh's module deferred (for imports like ``from apssh.deferred import ...``)."""

from jobgraph_ssh import Capture, Deferred, Variables  # noqa: F401
