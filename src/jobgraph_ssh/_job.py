"""SshJob: a job of the engine that runs commands, in order, on one node."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jobgraph as jg

from ._commands import Command, CommandResult
from ._errors import CommandFailedError, SshError
from ._formatters import Formatter
from ._node import Node

__all__ = ["DEFAULT_KEEP", "SshJob"]

DEFAULT_KEEP = 64 * 1024  # characters of stdout (the end) kept per command by default


def _flatten(items: Iterable[Any]) -> list[Command]:
    commands: list[Command] = []
    for item in items:
        if isinstance(item, Command):
            commands.append(item)
        elif isinstance(item, Iterable) and not isinstance(item, str | bytes):
            commands.extend(_flatten(item))
        elif item is not None:
            raise jg.JobDefinitionError(
                f"SshJob takes commands (Run, Shell...) or lists of them, not {item!r}"
                + (" (write Shell(...) for a shell line)" if isinstance(item, str) else "")
            )
    return commands


class SshJob(jg.AbstractJob):
    """Run commands in order on a node, as one job of a scheduler.

    ``SshJob(node, Run("uname", "-a"), Shell("df -h | tail -1"), label="check")``.
    Every engine option applies (``label``, ``requires``, ``critical``, ``forever``,
    ``timeout``, ``retry``...). The job's result is the list of
    :class:`CommandResult`, one per command, in order.

    When a command ends with a status that is not allowed:

    - a **critical** job (the default) stops there and raises
      :class:`CommandFailedError` for that command;
    - a **non-critical** job runs the remaining commands anyway, then raises
      :class:`CommandFailedError` for the first failed command (the message counts
      the others).

    In both cases the error's ``results`` holds the results of every command that
    ran, so ``job.exception.results`` tells what happened; its ``job`` and ``host``
    name the culprits. An error reaching the node (connection, host key, auth,
    timeout) ends the job at once, whatever its criticality.

    Cancelling the job (its timeout, a critical abort elsewhere, an outside
    cancel) stops the running remote command (SIGTERM, then its channel is closed).

    Args:
        node: where to run (:class:`SshNode` or :class:`LocalNode`).
        *commands: commands, or lists of them.
        formatter: where output lines go; default: the node's formatter.
        keep_output: how much output each :class:`CommandResult` keeps: True for
            all, False for none, an int for the last that many characters of stdout
            (and all of stderr); default 64 KiB. Lines always reach the formatter.
        **options: the engine's job options.
    """

    def __init__(
        self,
        node: Node,
        *commands: Command | Iterable[Command],
        formatter: Formatter | None = None,
        keep_output: bool | int = DEFAULT_KEEP,
        **options: Any,
    ) -> None:
        if not isinstance(node, Node):
            raise jg.JobDefinitionError(
                f"SshJob needs a node (SshNode or LocalNode) first, not {node!r}"
            )
        self.node = node
        self.commands = tuple(_flatten(commands))
        if not self.commands:
            raise jg.JobDefinitionError(f"SshJob on {node.name} has no command")
        self.formatter = formatter
        if keep_output is True:
            self.keep: int | None = None
        elif keep_output is False:
            self.keep = 0
        elif isinstance(keep_output, int) and keep_output >= 0:
            self.keep = keep_output
        else:
            raise jg.InvalidOptionError(
                f"keep_output must be a bool or a non-negative int, not {keep_output!r}"
            )
        super().__init__(**options)

    def default_label(self) -> str:
        first = self.commands[0].label
        more = f" (+{len(self.commands) - 1})" if len(self.commands) > 1 else ""
        return f"{self.node.label}: {first}{more}"

    def details(self) -> str:
        return "\n".join(command.label for command in self.commands)

    async def run(self) -> list[CommandResult]:
        """Run the commands in order; return their results (see the class docstring)."""
        formatter = self.formatter if self.formatter is not None else self.node.formatter
        results: list[CommandResult] = []
        failed: list[CommandResult] = []
        try:
            for command in self.commands:
                result = await command.execute(self.node, formatter, self.keep)
                results.append(result)
                if not result.allowed:
                    failed.append(result)
                    if self.critical:
                        break
        except SshError as exc:
            exc.job = self.label
            exc.results = tuple(results)
            raise
        if failed:
            first = failed[0]
            error = CommandFailedError(
                first.host,
                first.command,
                exit_status=first.exit_status,
                signal=first.signal,
                stderr_tail=first.stderr_tail,
                more=len(failed) - 1,
            )
            error.job = self.label
            error.results = tuple(results)
            raise error
        return results
