"""apssh's module sshproxy (for imports like ``from apssh.sshproxy import ...``)."""

from ._nodes import SshProxy

__all__ = [
    "SshProxy",
]
