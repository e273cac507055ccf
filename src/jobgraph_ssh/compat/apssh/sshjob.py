"""apssh's module sshjob (for imports like ``from apssh.sshjob import ...``)."""

from ._sshjob import CommandFailedError, SshJob

__all__ = [
    "CommandFailedError",
    "SshJob",
]
