"""apssh commands (Run, RunScript, RunString, Push, Pull) as native commands.

apssh joins a command's parts with spaces and hands the line to the remote shell as
it is (no quoting): ``Run("ls", "*.txt")`` globs. These classes do the same; the
native :class:`jobgraph_ssh.Run` quotes each part instead.
"""

from __future__ import annotations

import contextvars
import os
import uuid
from typing import TYPE_CHECKING, Any

from jobgraph_ssh import CommandResult, Deferred, Node, lowlevel
from jobgraph_ssh import Pull as _NativePull
from jobgraph_ssh import Push as _NativePush
from jobgraph_ssh.lowlevel import Command, StagedCommand, resolve

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from jobgraph_ssh import Capture, Formatter, Stream

__all__ = [
    "AbstractCommand",
    "Pull",
    "Push",
    "Run",
    "RunLocalStuff",
    "RunScript",
    "RunString",
]


def _exits(allowed_exits: Any) -> tuple[int | str, ...]:
    return tuple(allowed_exits) if allowed_exits else ()


def _parts(argv: tuple[Any, ...]) -> tuple[str | Deferred, ...]:
    return tuple(part if isinstance(part, Deferred) else str(part) for part in argv)


class AbstractCommand:
    """What every apssh command offers besides the native behaviour: ``verbose``,
    ``node`` (set by the SshJob), :meth:`label_line`, ``co_run_remote`` and
    ``co_run_local``."""

    verbose: bool = False
    node: Any = None
    label: str
    _label: str | None

    def label_line(self) -> str:
        """How listings and graphs show the command: its label if one was given, else
        apssh's one-line description (the command line, ``RunScript: name args``...)."""
        given = getattr(self, "_label", None)
        return given if given is not None else self._apssh_line()

    def get_label_line(self) -> str:
        """Same as :meth:`label_line` (apssh's name)."""
        return self.label_line()

    def _apssh_line(self) -> str:
        return self.label

    async def co_run_remote(self, node: Any) -> int | str | None:
        """Run on ``node`` (its formatter gets the output); the exit status (0: fine),
        or the signal's name."""
        assert isinstance(self, Command)
        result = await self.execute(node, node.formatter, 0)
        return result.exit_status if result.signal is None else result.signal

    co_run_local = co_run_remote

    def _tell(self, node: Node, formatter: Formatter, text: str) -> None:
        """A line of apssh's ``verbose`` commands, on stderr through the formatter."""
        if self.verbose:
            formatter.line(node.label, "stderr", text)

    def _muted(self, formatter: Formatter) -> Formatter:
        """The formatter to use: a captured command's stdout goes to its variable
        only, as in apssh."""
        if getattr(self, "capture", None) is not None:
            return _StdoutMuted(formatter)
        return formatter


def _remote(node: Node, formatter: Formatter) -> bool:
    """Whether apssh's connection feedback applies: an apssh node on an SSH host."""
    from .formatters import _Bridge
    from .sshproxy import SshProxy

    return isinstance(node, SshProxy) and isinstance(formatter, _Bridge)


async def _sftp_started(node: Any, formatter: Formatter) -> None:
    """Connect; tell the formatter when the node's first SFTP session on this
    connection starts (apssh keeps one SFTP client per connection)."""
    connection = await node.connect_lazy()
    if node.__dict__.get("_compat_sftp_for") is not connection:
        node.__dict__["_compat_sftp_for"] = connection
        formatter.event(node.label, "sftp-start")


def _status(result: CommandResult) -> int | str | None:
    return result.exit_status if result.signal is None else result.signal


def _debug_status(node: Any, result: CommandResult) -> None:
    """apssh's ``debug`` trace of how a remote command ended."""
    if result.signal is not None:
        node.debug_line(f"SIGNAL = {result.signal}--")
    elif result.exit_status is not None:
        node.debug_line(f"STATUS = {result.exit_status}")


class _StdoutMuted:
    """A formatter that passes on everything but stdout lines."""

    def __init__(self, formatter: Formatter) -> None:
        self.formatter = formatter

    def line(self, host: str, stream: Stream, text: str) -> None:
        if stream != "stdout":
            self.formatter.line(host, stream, text)

    def event(self, host: str, message: str) -> None:
        self.formatter.event(host, message)


class Run(AbstractCommand, Command):
    """A remote command line made of ``argv`` joined with spaces, not quoted.

    ``Run("tail -n", 1, "/etc/hosts")`` and ``Run("tail -n 1 /etc/hosts")`` are the
    same. A :class:`Deferred` part is rendered just before the command runs.
    ``x11`` asks for X11 forwarding; ``ignore_outputs`` (on a LocalNode) sends the
    process's output to ``/dev/null``; ``verbose`` shows the command line as it starts;
    ``capture`` stores stdout into a variable.
    """

    argv: tuple[str | Deferred, ...]

    def __init__(
        self,
        *argv: Any,
        verbose: bool = False,
        x11: bool = False,
        ignore_outputs: bool = False,
        label: str | None = None,
        allowed_exits: Any = None,
        capture: Capture | None = None,
    ) -> None:
        parts: list[Any] = []
        for part in argv:  # a Run stands for its command line (Run(service.start_command()))
            if isinstance(part, Run):
                parts.extend(part.argv)
                if label is None and len(argv) == 1:
                    label = part._label
            else:
                parts.append(part)
        self.argv = _parts(tuple(parts))
        self.verbose = verbose
        self.x11 = x11
        self.ignore_outputs = ignore_outputs
        super().__init__(allowed_exits=_exits(allowed_exits), label=label, capture=capture)

    def command_line(self) -> str:
        return " ".join(str(part) for part in self.argv)

    def __str__(self) -> str:
        return self.command_line()

    def resolved_line(self) -> str:
        return " ".join(resolve(part) for part in self.argv)

    async def execute(self, node: Node, formatter: Formatter, keep: int | None) -> CommandResult:
        from jobgraph_ssh import LocalNode

        line = self.command_line()
        self._tell(node, formatter, f"Run: -> {line}")
        if self.ignore_outputs and isinstance(node, LocalNode):
            result = await _Quiet(self).execute(node, formatter, keep)
            self._tell(node, formatter, f"Run: {_status(result)} <- {line}")
            return result
        remote = _remote(node, formatter)
        if remote:  # as apssh: connection events first, then the session's
            await node.connect_lazy()  # type: ignore[attr-defined]
            formatter.event(node.label, f"session-start {line}")
        result = await super().execute(node, self._muted(formatter), keep)
        if remote:
            _debug_status(node, result)
            formatter.event(node.label, f"session-stop {line}")
        self._tell(node, formatter, f"Run: {_status(result)} <- {line}")
        return result


class _Quiet(Command):
    """A Run whose output goes to /dev/null (``ignore_outputs`` on a local node)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        super().__init__(
            allowed_exits=tuple(run.allowed_codes) + tuple(run.allowed_signals), label=run.label
        )

    def command_line(self) -> str:
        return self.run.command_line()

    def resolved_line(self) -> str:
        return "exec >/dev/null 2>&1; " + self.run.resolved_line()


class RunLocalStuff(AbstractCommand, StagedCommand):
    """The base of :class:`RunScript` and :class:`RunString`: a local script copied to a
    fresh remote directory (with ``includes``), run there with ``args`` joined with
    spaces (not quoted), then removed. ``remote_basename`` names the remote copy. With
    ``verbose``, the script runs under ``bash -x`` (its lines traced on stderr)."""

    def __init__(
        self,
        args: Any,
        *,
        label: str | None = None,
        allowed_exits: Any = None,
        includes: Any = None,
        remote_basename: str | None = None,
        x11: bool = False,
        verbose: bool = False,
        capture: Capture | None = None,
        local_script: str | os.PathLike[str] | None = None,
        body: str | None = None,
    ) -> None:
        self.verbose = verbose
        self.x11 = x11
        if remote_basename is not None:
            self.script_name = remote_basename
        elif not getattr(self, "script_name", None):
            self.script_name = f"apssh-{uuid.uuid4().hex[:12]}"
        super().__init__(
            tuple(args),
            [os.fspath(path) for path in includes or ()],
            allowed_exits=_exits(allowed_exits),
            env=None,
            timeout=None,
            label=label,
            capture=capture,
            local_script=local_script,
            body=body,
        )

    def join_line(self, parts: list[str]) -> str:
        return " ".join(parts)

    def _args_line(self) -> str:
        return " ".join(str(arg) for arg in self.args)

    def remote_line(self, path: str, args: list[str]) -> str:
        """As apssh: a ``verbose`` script runs under ``bash -x``, which traces each line
        it runs on stderr (whatever its ``#!`` line says). The session starts here,
        once the script is in place."""
        line = super().remote_line(path, args)
        line = f"bash -x {line}" if self.verbose else line
        starting = _starting.get()
        if starting is not None:
            node, formatter = starting[:2]
            starting.append(line)
            if not _remote(node, formatter):  # apssh words it so on a LocalNode
                self._tell(node, formatter, f"Run: -> {line}")
                return line
            if isinstance(self, RunString):
                self._tell(node, formatter, f"RunString: pushing script into {path}")
            self._tell(node, formatter, f"RunLocalStuff: -> {line}")
            formatter.event(node.label, f"session-start {line}")
        return line

    async def execute(self, node: Node, formatter: Formatter, keep: int | None) -> CommandResult:
        remote = _remote(node, formatter)
        if remote:  # as apssh: connection and SFTP events first
            await _sftp_started(node, formatter)
        starting: list[Any] = [node, formatter]
        token = _starting.set(starting)
        try:
            result = await super().execute(node, self._muted(formatter), keep)
        finally:
            _starting.reset(token)
        if len(starting) > 2:  # the script ran
            line = starting[2]
            if remote:
                _debug_status(node, result)
                formatter.event(node.label, f"session-stop {line}")
            what = "RunLocalStuff" if remote else "Run"
            self._tell(node, formatter, f"{what}: {_status(result)} <- {line}")
        return result


# the node and formatter of the staged command starting in this task, then its line
_starting: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "apssh_staged_starting", default=None
)


class RunScript(RunLocalStuff):
    """Run a local script file remotely, with arguments as for :class:`Run`."""

    def __init__(
        self,
        local_script: str | os.PathLike[str],
        *args: Any,
        label: str | None = None,
        allowed_exits: Any = None,
        includes: Any = None,
        x11: bool = False,
        verbose: bool = False,
        capture: Capture | None = None,
    ) -> None:
        super().__init__(
            args,
            label=label,
            allowed_exits=allowed_exits,
            includes=includes,
            remote_basename=os.path.basename(os.fspath(local_script)),
            x11=x11,
            verbose=verbose,
            capture=capture,
            local_script=local_script,
        )

    def _apssh_line(self) -> str:
        return f"RunScript: {self.script_name} {self._args_line()}"


class RunString(RunLocalStuff):
    """Run a script given as a string remotely, stored as ``remote_name`` (a random
    name by default), with arguments as for :class:`Run`."""

    def __init__(
        self,
        script_body: str,
        *args: Any,
        label: str | None = None,
        allowed_exits: Any = None,
        includes: Any = None,
        x11: bool = False,
        remote_name: str | None = None,
        verbose: bool = False,
        capture: Capture | None = None,
    ) -> None:
        self.script_body = script_body
        super().__init__(
            args,
            label=label,
            allowed_exits=allowed_exits,
            includes=includes,
            remote_basename=remote_name,
            x11=x11,
            verbose=verbose,
            capture=capture,
            body=script_body,
        )

    def _apssh_line(self) -> str:
        return f"RunString: {_first_line(self.script_body)} {self._args_line()}"


def _first_line(body: str, width: int = 15) -> str:
    """What apssh shows of a script's body: its first line that is neither blank nor
    a comment, cut to ``width`` characters (then ``...``)."""
    for line in body.split("\n"):
        text = line.strip()
        if text and not text.startswith("#"):
            return text if len(text) <= width else text[:width] + "..."
    return "??? empty body ???"


def _paths_line(paths: Any) -> str:
    """apssh's short form of a list of paths: the first one, and how many in all."""
    if isinstance(paths, str | os.PathLike):
        return str(os.fspath(paths))
    listed = [str(os.fspath(path)) for path in paths]
    if len(listed) == 1:
        return listed[0]
    return f"{listed[0]} ... ({len(listed)} total)"


async def _sftp_copy(
    node: Any, direction: str, sources: list[str], target: str, preserve: bool
) -> None:
    """asyncssh's own ``put`` / ``get`` (as apssh calls them): into ``target`` if it is
    a directory, else to ``target`` itself (one source)."""

    async def action(sftp: Any) -> None:
        copy = sftp.put if direction == "put" else sftp.get
        await copy(sources, target, preserve=preserve, recurse=True)

    await lowlevel.sftp_call(node, f"{direction} {', '.join(sources)} to {target}", action)


async def _told_copy(
    command: AbstractCommand,
    what: str,
    said: str,
    *,
    execute: Callable[[Node, Formatter, int | None], Awaitable[CommandResult]],
    node: Node,
    formatter: Formatter,
    keep: int | None,
) -> CommandResult:
    """A Push or Pull run by the native ``execute``, with apssh's words around it."""
    command._tell(node, formatter, f"{what}: {said}")
    if _remote(node, formatter):
        await _sftp_started(node, formatter)
    result = await execute(node, formatter, keep)
    if result.allowed:
        command._tell(node, formatter, f"{what} done")
    return result


async def _sftp_transfer(
    node: Node,
    said: str,
    copy: tuple[str, list[str], str, bool],
    native: Callable[[Node], Awaitable[None]],
) -> None:
    """On an SshNode, asyncssh's ``put``/``get`` (``copy``: the method, the sources,
    the target, preserve), told to a node's ``debug_line``; elsewhere the native copy."""
    if not isinstance(node, lowlevel.SshNode):
        return await native(node)
    debug_line = getattr(node, "debug_line", None)
    if callable(debug_line):
        debug_line(f"doing SFTP {said}")
    await lowlevel.call(_sftp_copy, node, *copy)
    return None


class Push(AbstractCommand, _NativePush):
    """Copy local files (directories recursively) to the node, over SFTP, as asyncssh's
    ``put`` does: into ``remotepath`` if it is a directory, else (one file) to that
    name. ``preserve=True`` among ``kwds`` keeps modes and times; other SFTP options
    are accepted and ignored."""

    def __init__(
        self,
        localpaths: Any,
        remotepath: str,
        *args: Any,
        label: str | None = None,
        verbose: bool = False,
        **kwds: Any,
    ) -> None:
        del args
        self.verbose = verbose
        self.sftp_options = kwds
        self.localpaths = localpaths
        self.remotepath = remotepath
        super().__init__(
            localpaths, str(remotepath), preserve=bool(kwds.get("preserve")), label=label
        )

    def _apssh_line(self) -> str:
        return f"Push: {_paths_line(self.localpaths)} onto {self.remotepath}"

    async def execute(self, node: Node, formatter: Formatter, keep: int | None) -> CommandResult:
        said = f"localpaths={self.localpaths}, remotepath={self.remotepath}"
        return await _told_copy(
            self, "Push", said, execute=super().execute, node=node, formatter=formatter, keep=keep
        )

    async def transfer(self, node: Node) -> None:
        said = f"put with {self.localpaths} -> {self.remotepath}"
        copy = ("put", self.local_paths, self.remote_dir, self.preserve)
        await _sftp_transfer(node, said, copy, super().transfer)


class Pull(AbstractCommand, _NativePull):
    """Copy files of the node (directories recursively) here, over SFTP, as asyncssh's
    ``get`` does: into ``localpath`` if it is a directory, else (one file) to that
    name. ``preserve=True`` among ``kwds`` keeps modes and times."""

    def __init__(
        self,
        remotepaths: Any,
        localpath: str | os.PathLike[str],
        *args: Any,
        label: str | None = None,
        verbose: bool = False,
        **kwds: Any,
    ) -> None:
        del args
        self.verbose = verbose
        self.sftp_options = kwds
        self.remotepaths = remotepaths
        self.localpath = localpath
        super().__init__(remotepaths, localpath, preserve=bool(kwds.get("preserve")), label=label)

    def _apssh_line(self) -> str:
        return f"Pull: {_paths_line(self.remotepaths)} into {os.fspath(self.localpath)}"

    async def execute(self, node: Node, formatter: Formatter, keep: int | None) -> CommandResult:
        said = f"remotepaths={self.remotepaths}, localpath={self.localpath}"
        return await _told_copy(
            self, "Pull", said, execute=super().execute, node=node, formatter=formatter, keep=keep
        )

    async def transfer(self, node: Node) -> None:
        said = f"get with {self.remotepaths} -> {self.localpath}"
        copy = ("get", self.remote_paths, self.local_dir, self.preserve)
        await _sftp_transfer(node, said, copy, super().transfer)
