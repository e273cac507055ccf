"""apssh's module nodes (for imports like ``from apssh.nodes import ...``)."""

from ._nodes import LocalNode, SshNode

__all__ = [
    "LocalNode",
    "SshNode",
]
