"""SshJob: a job of the engine that runs commands, in order, on one node."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import jobgraph as jg
from jobgraph.lowlevel import emit_note
from jobgraph.services import ServicePool

from ._asyncssh import _glue
from ._commands import Command, CommandResult
from ._errors import AuthError, CommandFailedError, ConnectionLostError, SshError
from ._formatters import Formatter
from ._node import Node, SshNode

__all__ = ["DEFAULT_KEEP", "ServicesWiring", "SshJob", "wire_services"]

DEFAULT_KEEP = 64 * 1024  # characters of stdout (the end) kept per command by default


class ServicesWiring(Protocol):
    """What ``SshJob(..., services=pool)`` asks of :mod:`jobgraph_ssh.services`, which
    registers it with :func:`wire_services` when it is imported (``jobgraph_ssh``
    imports it): the SshJob keeps the options and knows nothing else of services, so
    imports go one way, services to the SshJob.
    """

    def check(
        self, job: SshJob, pool: object, transport: object, timeout: object, limits: object
    ) -> object:
        """Check the job's ``services*`` options (its node and commands are set).

        Args:
            job: the SshJob being built.
            pool: its ``services``.
            transport: its ``services_transport``.
            timeout: its ``services_timeout``.
            limits: its ``services_limits``.

        Returns:
            The limits the job keeps: ``limits``, or None (then its node's limits
            apply when it runs).

        Raises:
            jobgraph.InvalidOptionError: an option of the wrong kind or value.
            jobgraph.JobDefinitionError: services on a node that cannot serve them.
        """

    async def run(
        self, job: SshJob, body: Callable[[Node], Awaitable[list[CommandResult]]]
    ) -> list[CommandResult]:
        """Run ``body(node)`` while the job's node serves the job's remote calls.

        Args:
            job: an SshJob with ``services``.
            body: runs the job's commands on the node given.

        Returns:
            What ``body`` returns.
        """


_wiring: list[ServicesWiring] = []


def wire_services(wiring: ServicesWiring) -> None:
    """Make ``wiring`` what every SshJob uses for its ``services*`` options (the last
    one registered wins; :mod:`jobgraph_ssh.services` registers its own).

    Args:
        wiring: the checks and the runner.
    """
    _wiring[:] = [wiring]


def _services_wiring() -> ServicesWiring:
    if not _wiring:  # jobgraph_ssh imports jobgraph_ssh.services, which registers it
        raise jg.JobGraphError("jobgraph_ssh.services is not loaded: SshJob cannot check services")
    return _wiring[0]


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

    A command's arguments may hold :class:`jobgraph.ResultOf` placeholders
    (``Run("echo", jg.ResultOf(job, lambda r: r[-1].stdout.strip()))``): the SshJob
    requires their jobs, and each placeholder becomes ``str()`` of its value just
    before its command runs. If that job has no result (it failed, was cancelled or
    skipped), the SshJob fails there with :class:`jobgraph.ResultUnavailableError`
    naming both jobs.

    When a command ends with a status that is not allowed:

    - a **critical** job (the default) stops there and raises
      :class:`CommandFailedError` for that command;
    - a **non-critical** job runs the remaining commands anyway, then raises
      :class:`CommandFailedError` for the first failed command (the message counts
      the others).

    Connection state is sent to the run's subscribers (the progress view, reports) as
    ``NOTE`` events of the job (see :func:`jobgraph.lowlevel.emit_note`), each with the
    ``host`` in its data: ``"connecting"`` (with ``via``, a gateway, if any), then
    ``"authenticated"`` (``reused=True`` when the connection was already open),
    ``"auth-failed"`` or ``"connect-failed"`` (with ``error``); ``"disconnected"`` when
    the connection drops under a command, or (with ``closed=True``) when ``close_all``
    closes it while the run goes on. Connections stay open for the jobs that follow;
    ``close_all`` closes them, after the run or from a job of it. The notes are also
    kept for the run's report (:func:`jobgraph.lowlevel.notes_of`).

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
            all, False for none, an int for the last whole lines of stdout that fit
            in that many characters, and as many of stderr (the end of the last line
            when even it does not fit); default 64 KiB of each (the result's
            ``stdout_truncated`` and ``stderr_truncated`` say when the start was
            dropped). Lines always reach the formatter.
        services: a :class:`jobgraph.services.ServicePool` the job's commands may call
            from the remote host (see ``docs/remote-services.md``); the job's SSH
            connection forwards a socket back to this process while the job runs.
        services_transport: ``"auto"`` (a Unix socket, else a TCP port on the remote
            127.0.0.1), ``"unix"`` or ``"tcp"``.
        services_timeout: the longest a remote call may take, in seconds (None: no limit).
        services_limits: a :class:`~jobgraph_ssh.Limits` for the service socket this
            job opens (message size, request and idle timeouts, connections at once:
            its other fields are not used); None (default) for the node's
            ``limits``, else the process-wide ones (:func:`~jobgraph_ssh.set_limits`).
            ``jobgraph_ssh.services.ServiceLimits`` is the same class.
        **options: the engine's job options.
    """

    def __init__(
        self,
        node: Node,
        *commands: Command | Iterable[Command],
        formatter: Formatter | None = None,
        keep_output: bool | int = DEFAULT_KEEP,
        services: ServicePool | None = None,
        services_transport: str = "auto",
        services_timeout: float | None = None,
        services_limits: Any = None,
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
        limits = _services_wiring().check(
            self, services, services_transport, services_timeout, services_limits
        )
        self.services = services
        self.services_transport = services_transport
        self.services_timeout = services_timeout
        self.services_limits: Any = limits  # a jobgraph_ssh.Limits, or None: the node's
        placeholders = [p.job for command in self.commands for p in command.placeholders()]
        if placeholders:  # a command's argument is a job's result: require that job
            options["requires"] = (options.get("requires"), placeholders)
        super().__init__(**options)

    def default_label(self) -> str:
        first = self.commands[0].label
        more = f" (+{len(self.commands) - 1})" if len(self.commands) > 1 else ""
        return f"{self.node.label}: {first}{more}"

    def details(self) -> str:
        lines = [command.label for command in self.commands]
        for command, result in zip(self.commands, self._results_so_far(), strict=False):
            cut = [
                name
                for name, flag in (
                    ("stdout", result.stdout_truncated),
                    ("stderr", result.stderr_truncated),
                )
                if flag
            ]
            if cut:  # listings say when kept output is not the whole output
                lines.append(f"output cut: {command.label} kept the end of {' and '.join(cut)}")
        return "\n".join(lines)

    def _results_so_far(self) -> tuple[CommandResult, ...]:
        """The results of the last run: all of them, or those before a failure."""
        try:
            return tuple(self.result())
        except jg.RunStateError:
            return tuple(getattr(self.exception, "results", ()) or ())

    def repr_result(self) -> str:
        """In listings, the last command's :meth:`CommandResult.summary`, not the
        whole list of results (about 400 characters a command).

        Returns:
            Text like ``[[ -> exit 0 on web1: hello]]``, or ``[[ -> 3 commands, last:
            exit 0 on web1: hello]]``; otherwise as for any job.
        """
        results = jg.lowlevel.record_of(self).result
        text = super().repr_result()
        if not (text.startswith("[[ -> ") and isinstance(results, list) and results):
            return text
        if not all(isinstance(result, CommandResult) for result in results):
            return text
        many = f"{len(results)} commands, last: " if len(results) > 1 else ""
        return f"[[ -> {many}{results[-1].summary()}]]"

    def journal_fingerprint(self) -> object:
        """The node and the commands (see :meth:`jobgraph.AbstractJob.journal_fingerprint`):
        on resume, a job whose node or commands changed runs again.

        Returns:
            ``[node name, [command labels]]``.
        """
        return [self.node.name, [command.label for command in self.commands]]

    async def run(self) -> list[CommandResult]:
        """Run the commands in order (the scheduler calls it; see the class docstring).

        An SSH node is connected first (NOTE events tell how it goes); each command's
        placeholders are resolved just before it runs.

        Returns:
            One :class:`CommandResult` per command, in order, all allowed.

        Raises:
            CommandFailedError: a command ended with a status not allowed.
            CommandTimeoutError: a command's own ``timeout`` passed.
            ConnectError: the node cannot be reached (also HostKeyError, AuthError).
            KeyFileError: a key file of the node cannot be used.
            ConnectionLostError: the connection dropped under a command.
            SshError: with ``services``, the socket back to this process cannot be
                forwarded from the host.
            jobgraph.ResultUnavailableError: a placeholder's job has no result.

        Cancellation:
            The running remote command is stopped (a ``TERM`` signal request, its
            channel closed, and with the node's ``kill_group`` its process group
            killed); the commands after it do not run, and a staged script's
            directory is removed (shielded, at most 2 s). With ``services``, the
            job's calls in progress are cancelled and later ones refused. The
            connection stays open for other jobs.
        """
        if self.services is None:
            return await self._run_on(self.node)
        try:
            return await _services_wiring().run(self, self._run_on)
        except SshError as exc:
            exc.job = self.label
            raise

    async def _connect_telling(self, node: SshNode) -> None:
        """Open the node's connection, telling the run how it goes."""
        if node.is_connected():
            emit_note(self, "authenticated", host=node.name, reused=True)
            return
        via = {"via": node.gateway.name} if node.gateway is not None else {}
        emit_note(self, "connecting", host=node.name, **via)
        try:
            await node.connect()
        except AuthError as exc:
            emit_note(self, "auth-failed", host=node.name, error=exc.message)
            raise
        except SshError as exc:
            emit_note(self, "connect-failed", host=node.name, error=exc.message)
            raise
        emit_note(self, "authenticated", host=node.name)

    async def _run_commands(
        self,
        node: Node,
        formatter: Formatter,
        results: list[CommandResult],
        failed: list[CommandResult],
    ) -> None:
        """Run the commands in order into ``results`` (and ``failed``), as far as they go."""
        for command in self.commands:
            result = await command.resolved_for(self).execute(node, formatter, self.keep)
            results.append(result)
            if not result.allowed:
                failed.append(result)
                if self.critical:
                    break

    async def _run_on(self, node: Node) -> list[CommandResult]:
        formatter = self.formatter if self.formatter is not None else node.formatter
        results: list[CommandResult] = []
        failed: list[CommandResult] = []
        try:
            if isinstance(node, SshNode):
                await self._connect_telling(node)
                # under trio: the whole sequence in one trip to asyncssh's loop, not one per
                # command (under asyncio, a plain await)
                await _glue.call(self._run_commands, node, formatter, results, failed)
            else:
                await self._run_commands(node, formatter, results, failed)
        except SshError as exc:
            if isinstance(exc, ConnectionLostError):
                emit_note(self, "disconnected", host=node.name, error=exc.message)
            exc.job = self.label
            exc.results = tuple(results)
            raise
        if failed:
            first = failed[0]
            remote = getattr(first, "error", None)  # a Call's RemoteError, as it is
            error = (
                remote
                if isinstance(remote, CommandFailedError)
                else CommandFailedError(
                    first.host,
                    first.command,
                    exit_status=first.exit_status,
                    signal=first.signal,
                    stderr_tail=first.stderr_tail,
                    more=len(failed) - 1,
                )
            )
            error.job = self.label
            error.results = tuple(results)
            raise error
        return results
