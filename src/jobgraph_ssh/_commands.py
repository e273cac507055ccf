"""Commands: what an :class:`~jobgraph_ssh.SshJob` runs, in order, on its node.

A command is a description (immutable once made); running it gives a
:class:`CommandResult`.
"""

from __future__ import annotations

import shlex
import signal as signals
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

import jobgraph as jg

from ._connection import OutputCollector

if TYPE_CHECKING:
    from ._formatters import Formatter
    from ._node import Node

__all__ = ["Command", "CommandResult", "Run", "Shell"]


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What one command did.

    Attributes:
        host: the node's name.
        command: the command line as sent to the shell.
        exit_status: the exit status, or None if the command ended on a signal.
        signal: the signal's name without ``SIG`` (``"TERM"``), or None.
        stdout: what it wrote on stdout, if kept (see ``keep_output`` of SshJob).
        stderr: what it wrote on stderr, if kept.
        started_at: wall-clock time (``time.time()``) when it started.
        ended_at: wall-clock time when it ended.
        allowed: whether its exit status or signal was allowed.
        stderr_tail: the last lines written on stderr (always kept, a few lines).
        stdout_truncated: True if only the end of stdout was kept.
    """

    host: str
    command: str
    exit_status: int | None
    signal: str | None
    stdout: str | None
    stderr: str | None
    started_at: float
    ended_at: float
    allowed: bool
    stderr_tail: tuple[str, ...] = ()
    stdout_truncated: bool = False

    @property
    def ok(self) -> bool:
        """Same as :attr:`allowed`: the command ended as allowed."""
        return self.allowed

    @property
    def duration(self) -> float:
        """Seconds the command took."""
        return self.ended_at - self.started_at


def _signal_name(value: str) -> str:
    name = value.upper().removeprefix("SIG")
    if not hasattr(signals, "SIG" + name):
        raise jg.InvalidOptionError(f"allowed_exits: unknown signal name {value!r}")
    return name


class Command:
    """The base of every command kind.

    Args:
        allowed_exits: exit statuses (ints) and signal names (``"TERM"`` or
            ``"SIGTERM"``) that count as success besides 0.
        env: environment variables to set for the command (on SSH nodes, exported by
            the remote shell before the command, so sshd's ``AcceptEnv`` does not matter).
        timeout: seconds the command may run; it is then stopped and fails with
            :class:`~jobgraph_ssh.CommandTimeoutError`. None for no limit.
        label: how listings name the command (default: its command line).
    """

    def __init__(
        self,
        *,
        allowed_exits: Iterable[int | str] = (),
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        label: str | None = None,
    ) -> None:
        codes: set[int] = {0}
        names: set[str] = set()
        for item in allowed_exits:
            if isinstance(item, bool) or not isinstance(item, int | str):
                raise jg.InvalidOptionError(
                    f"allowed_exits takes ints and signal names, not {item!r}"
                )
            if isinstance(item, int):
                codes.add(item)
            else:
                names.add(_signal_name(item))
        self.allowed_codes = frozenset(codes)
        self.allowed_signals = frozenset(names)
        for name in env or ():
            if not isinstance(name, str) or not name.isidentifier():
                raise jg.InvalidOptionError(f"env: {name!r} is not a variable name")
        self.env: Mapping[str, str] | None = (
            MappingProxyType({k: str(v) for k, v in env.items()}) if env else None
        )
        if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
            raise jg.InvalidOptionError(
                f"timeout must be a positive number or None, not {timeout!r}"
            )
        self.timeout = timeout
        self._label = label

    @property
    def label(self) -> str:
        return self._label if self._label is not None else self.command_line()

    def command_line(self) -> str:
        """The shell command line sent to the node."""
        raise NotImplementedError

    def is_allowed(self, exit_status: int | None, signal: str | None) -> bool:
        if signal is not None:
            return signal in self.allowed_signals
        return exit_status in self.allowed_codes

    async def execute(self, node: Node, formatter: Formatter, keep: int | None) -> CommandResult:
        """Run the command on ``node``; its output lines go to ``formatter``.

        Raises:
            SshError: the node could not run it (connection, timeout...). A command
                that runs and fails is not an error here: see ``allowed``.
        """
        line = self.command_line()
        collector = OutputCollector(node.label, formatter, keep)
        raw = await node.run_line(line, env=self.env, time_limit=self.timeout, collector=collector)
        return CommandResult(
            host=node.name,
            command=line,
            exit_status=raw.exit_status,
            signal=raw.signal,
            stdout=raw.stdout,
            stderr=raw.stderr,
            started_at=raw.started_at,
            ended_at=raw.ended_at,
            allowed=self.is_allowed(raw.exit_status, raw.signal),
            stderr_tail=raw.stderr_tail,
            stdout_truncated=raw.stdout_truncated,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.command_line()!r})"


class Run(Command):
    """A program and its arguments; each part is quoted, so no shell syntax applies.

    ``Run("ls", "-l", "my file; rm -rf x")`` lists a file with that odd name.
    Parts are converted with ``str()``.
    """

    def __init__(
        self,
        *argv: object,
        allowed_exits: Iterable[int | str] = (),
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        label: str | None = None,
    ) -> None:
        if not argv:
            raise jg.InvalidOptionError("Run() needs at least a program name")
        self.argv = tuple(str(part) for part in argv)
        super().__init__(allowed_exits=allowed_exits, env=env, timeout=timeout, label=label)

    def command_line(self) -> str:
        return shlex.join(self.argv)


class Shell(Command):
    """A shell command line, run by the remote shell as written (pipes, globs, ``&&``)."""

    def __init__(
        self,
        line: str,
        *,
        allowed_exits: Iterable[int | str] = (),
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        label: str | None = None,
    ) -> None:
        if not isinstance(line, str) or not line.strip():
            raise jg.InvalidOptionError(f"Shell() needs a non-empty command line, not {line!r}")
        self.line = line
        super().__init__(allowed_exits=allowed_exits, env=env, timeout=timeout, label=label)

    def command_line(self) -> str:
        return self.line
