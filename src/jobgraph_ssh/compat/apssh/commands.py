"""apssh's module commands (for imports like ``from apssh.commands import ...``)."""

from ._commands import (
    AbstractCommand,
    Pull,
    Push,
    Run,
    RunLocalStuff,
    RunScript,
    RunString,
)

__all__ = [
    "AbstractCommand",
    "Pull",
    "Push",
    "Run",
    "RunLocalStuff",
    "RunScript",
    "RunString",
]
