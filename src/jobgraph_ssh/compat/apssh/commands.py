"""apssh's module commands (for imports like ``from apssh.commands import ...``)."""

from ._commands import (  # noqa: F401
    AbstractCommand,
    Pull,
    Push,
    Run,
    RunLocalStuff,
    RunScript,
    RunString,
)
