"""apssh's SshJob: an asynciojobs-compat job running commands in order on one node."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import jobgraph as jg
from jobgraph.compat.asynciojobs import AbstractJob
from jobgraph_ssh import ConnectError, Deferred, Node
from jobgraph_ssh.lowlevel import Command

from ._errors import as_apssh_error
from .commands import Run

__all__ = ["CommandFailedError", "SshJob"]


class CommandFailedError(jg.JobGraphError):
    """A command of a critical SshJob ended with a status that is not allowed; the
    message names the command, its status and the node."""


def _commands(value: Any) -> list[Command]:
    """apssh's four ways of giving commands, as a list of commands."""
    if isinstance(value, str | Deferred):
        return [Run(value)]
    if isinstance(value, Command):
        return [value]
    if isinstance(value, list | tuple):
        items = [item for item in value if item]
        if items and all(isinstance(item, Command) for item in items):
            return items
        if items and not any(isinstance(item, Command) for item in items):
            return [Run(*items)]
    raise jg.JobDefinitionError(
        "SshJob: commands must be a command, a list of commands, a string or a list of "
        f"strings, not {value!r}"
    )


class _Closing:
    """What :meth:`SshJob.close` returns: awaiting it closes the connection; left
    alone (as a scheduler's synchronous ``close()`` of idle jobs does), it does nothing."""

    def __init__(self, job: SshJob) -> None:
        self.job = job

    def __await__(self) -> Generator[Any, None, None]:
        return self.job._close_node().__await__()


class SshJob(AbstractJob):
    """Run commands in order on a node (:class:`SshNode` or :class:`LocalNode`), as an
    asynciojobs-compat job.

    ``command`` and ``commands`` are the same thing (give one): a command, a list of
    commands, a string (one :class:`Run`) or a list of strings (one :class:`Run` of
    them). ``verbose``, when not None, is set on every command. ``critical`` defaults
    to True and ``forever`` to False; other keywords (``label``, ``required``,
    ``scheduler``) go to :class:`~jobgraph.compat.asynciojobs.AbstractJob`.
    ``await job.close()`` closes the node's connection unless ``keep_connection``.

    ``co_run()`` returns 0, or (non-critical job) the status of the last command that
    failed; a critical job raises :class:`CommandFailedError` at its first failure.
    """

    def __init__(
        self,
        node: Any,
        *,
        command: Any = None,
        commands: Any = None,
        keep_connection: bool = False,
        verbose: bool | None = None,
        forever: bool | None = None,
        critical: bool | None = None,
        **kwds: Any,
    ) -> None:
        if not isinstance(node, Node):
            raise jg.JobDefinitionError(f"SshJob needs an SshNode or a LocalNode, not {node!r}")
        self.node = node
        self.keep_connection = keep_connection
        if command is None and commands is None:
            raise jg.JobDefinitionError(f"SshJob on {node.name}: give command= or commands=")
        self.commands = _commands(commands if commands is not None else command)
        for each in self.commands:
            each.node = node  # type: ignore[attr-defined]
            if verbose is not None:
                each.verbose = verbose  # type: ignore[attr-defined]
        self.verbose = verbose
        self._errors: list[str] = []
        super().__init__(
            forever=bool(forever) if forever is not None else False,
            critical=critical if critical is not None else True,
            **kwds,
        )

    async def co_run(self) -> int | str:
        """Run the commands in order (see the class docstring)."""
        self._errors = []
        overall: int | str = 0
        for index, command in enumerate(self.commands, 1):
            try:
                result = await command.execute(self.node, self.node.formatter, 0)
            except ConnectError as exc:
                raise as_apssh_error(exc) from None
            if result.allowed:
                continue
            status: int | str = result.signal if result.exit_status is None else result.exit_status  # type: ignore[assignment]
            label = _label(command)
            if self.critical:
                self._errors.append(f"!Crit![{index}]:{label}->{status}")
                raise CommandFailedError(f"command {label} returned {status} on node {self.node}")
            self._errors.append(f"Ignr[{index}]:{label}->{status}")
            overall = status
        return overall

    async def _close_node(self) -> None:
        if not self.keep_connection:
            await self.node.close()

    def close(self) -> _Closing:  # type: ignore[override]
        """Close the node's connection unless ``keep_connection`` (await it)."""
        return _Closing(self)

    async def co_shutdown(self) -> None:
        """Nothing, as in apssh 0.27: the node's connection is shared with other jobs
        (those of nested schedulers too), so it stays open until :meth:`close`,
        :func:`co_close_ssh_in_scheduler`, or the end of the event loop of a
        synchronous ``run()``."""

    # -- listings ----------------------------------------------------------------------
    def text_label(self) -> str:
        first = _label(self.commands[0])
        more = len(self.commands) - 1
        return first if not more else f"{first}.. + {more}"

    def graph_label(self) -> str:
        """The node, then each command's label, one a line."""
        user = getattr(self.node, "username", None)
        host = getattr(self.node, "hostname", self.node.name)
        lines = [f"{self.repr_id()}: {user}@{host}" if user else f"{self.repr_id()}: {host}"]
        lines.extend(_label(command) for command in self.commands)
        return "\n".join(lines)

    def details(self) -> str:
        return self.graph_label()

    def repr_result(self) -> str:
        """As apssh: nothing until the job starts, then ``OK``, or the commands that
        failed (``!Crit![1]:label->status``, ``Ignr[2]:label->status``, joined by
        `` - ``). As in apssh, a job that raised otherwise (it could not connect)
        shows ``OK`` too: the listing's star column tells that it raised."""
        if not self.is_running():
            return ""
        return " - ".join(self._errors) if self._errors else "OK"


def _label(command: Command) -> str:
    line = getattr(command, "label_line", None)
    return str(line() if callable(line) else command.label)
