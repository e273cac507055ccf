"""Commands: what an :class:`~jobgraph_ssh.SshJob` runs, in order, on its node.

A command is a description (immutable once made); running it gives a
:class:`CommandResult`.
"""

from __future__ import annotations

import copy
import os
import shlex
import signal as signals
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import anyio.to_thread

import jobgraph as jg
from jobgraph.lowlevel import ResultOf, find_placeholders, register_type, resolve_placeholders

from ._asyncssh._connection import OutputCollector, TransferFailed
from ._deferred import Capture, Deferred, TemplateError, resolve
from ._errors import CommandTimeoutError

if TYPE_CHECKING:
    from ._formatters import Formatter
    from ._node import Node

__all__ = ["Command", "CommandResult", "Pull", "Push", "Run", "RunScript", "RunString", "Shell"]


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
        stdout_truncated: True if only the end of stdout was kept (``keep_output``, or
            the :class:`Capture`'s ``limit``).
        stderr_truncated: True if only the end of stderr was kept.
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
    stderr_truncated: bool = False

    @property
    def ok(self) -> bool:
        """Whether the command ended as allowed (the same as :attr:`allowed`)."""
        return self.allowed

    @property
    def duration(self) -> float:
        """Seconds the command took."""
        return self.ended_at - self.started_at

    def summary(self) -> str:
        """The result in a few words, as listings show it.

        Returns:
            Text like ``exit 0 on web1: first line of stdout`` (cut at 60
            characters), or ``signal TERM on web1`` when it ended on a signal; no
            output part when stdout was empty or not kept.
        """
        status = f"signal {self.signal}" if self.exit_status is None else f"exit {self.exit_status}"
        text = f"{status} on {self.host}"
        first = next(
            (line.strip() for line in (self.stdout or "").splitlines() if line.strip()), ""
        )
        if first:
            text += f": {first if len(first) <= 60 else first[:57] + '...'}"
        return text


# a run journal carries command results, so an SSH pipeline resumes (jobgraph.journal)
register_type(CommandResult, "jobgraph_ssh.CommandResult")


def _signal_name(value: str) -> str:
    name = value.upper().removeprefix("SIG")
    if not hasattr(signals, "SIG" + name):
        raise jg.InvalidOptionError(f"allowed_exits: unknown signal name {value!r}")
    return name


def _checked_env(env: Mapping[Any, object] | None) -> Mapping[str, str] | None:
    """The ``env`` option of a command, checked: a read-only mapping, or None."""
    if not env:
        return None
    if not isinstance(env, Mapping):
        raise jg.InvalidOptionError(
            f"env must be a mapping of variable names to strings, not {env!r}"
        )
    checked: dict[str, str] = {}
    for name, value in env.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise jg.InvalidOptionError(f"env: {name!r} is not a variable name")
        # numbers are written out, as the shell would; other values are mistakes
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise jg.InvalidOptionError(f"env: the value of {name} must be a string, not {value!r}")
        text = str(value)
        if "\0" in text:
            raise jg.InvalidOptionError(f"env: the value of {name} holds a NUL character")
        checked[name] = text
    return MappingProxyType(checked)


class Command:
    """The base of every command kind.

    A subclass may set ``x11 = True`` (class or instance attribute) to have its
    commands ask for X11 forwarding on SSH nodes.

    Args:
        allowed_exits: exit statuses (ints) and signal names (``"TERM"`` or
            ``"SIGTERM"``) that count as success besides 0.
        env: environment variables to set for the command (on SSH nodes, exported by
            the remote shell before the command, so sshd's ``AcceptEnv`` does not matter;
            the values travel on the command's stdin, never on its command line).
        timeout: seconds the command may run; it is then stopped and fails with
            :class:`~jobgraph_ssh.CommandTimeoutError`. None for no limit.
        label: how listings name the command (default: its command line).
        capture: where to store the command's stdout (see :class:`Capture`); the
            command then keeps its whole stdout, whatever the job's ``keep_output``.

    Raises:
        jobgraph.InvalidOptionError: for an ``allowed_exits`` item that is neither an
            int nor a known signal name, an ``env`` that is not a mapping, an ``env``
            name that is not an identifier or a value that is not a string (numbers are
            written out), a ``timeout`` that is not a positive number, a ``capture`` that is not a
            Capture.
    """

    x11: bool = False
    # the attributes that may hold ResultOf placeholders (see resolved_for)
    _placeholder_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        allowed_exits: Iterable[int | str] = (),
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        label: str | None = None,
        capture: Capture | None = None,
    ) -> None:
        if capture is not None and not isinstance(capture, Capture):
            raise jg.InvalidOptionError(f"capture must be a Capture or None, not {capture!r}")
        self.capture = capture
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
        self.env: Mapping[str, str] | None = _checked_env(env)
        if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
            raise jg.InvalidOptionError(
                f"timeout must be a positive number or None, not {timeout!r}"
            )
        self.timeout = timeout
        self._label = label

    @property
    def label(self) -> str:
        """How listings name the command: the ``label`` given, else its command line."""
        return self._label if self._label is not None else self.command_line()

    def placeholders(self) -> list[ResultOf]:
        """The :class:`jobgraph.ResultOf` placeholders among the command's arguments.

        Returns:
            Them, in argument order (an SshJob requires their jobs).
        """
        return [
            placeholder
            for name in self._placeholder_fields
            for placeholder in find_placeholders(getattr(self, name))
        ]

    def resolved_for(self, job: jg.AbstractJob) -> Command:
        """The command with its :class:`jobgraph.ResultOf` placeholders replaced by the
        results they stand for (as strings), now; itself if it holds none.

        Args:
            job: the job about to run the command (the placeholders' jobs must be
                among its requirements).

        Returns:
            A copy of the command with strings in place of the placeholders, or the
            command itself.

        Raises:
            jobgraph.ResultUnavailableError: a placeholder's job has no result (names
                ``job`` and that job).
        """
        if not self.placeholders():
            return self
        clone = copy.copy(self)
        for name in self._placeholder_fields:
            value = getattr(self, name)
            if any(True for _ in find_placeholders(value)):
                setattr(clone, name, _as_text(resolve_placeholders(value, job)))
        return clone

    def command_line(self) -> str:
        """The command line, as shown (Deferred parts as their templates).

        Returns:
            The text listings and results show; placeholders appear as
            ``<result of LABEL>``. A subclass must implement it.
        """
        raise NotImplementedError

    def resolved_line(self) -> str:
        """The command line sent to the node, Deferred parts rendered now.

        Returns:
            The line as the node's shell gets it.

        Raises:
            TemplateError: a template cannot be rendered.
        """
        return self.command_line()

    def is_allowed(self, exit_status: int | None, signal: str | None) -> bool:
        """Whether an end counts as success.

        Args:
            exit_status: the exit status, or None when the command ended on a signal.
            signal: the signal's name without ``SIG``, or None.

        Returns:
            For a signal, whether ``allowed_exits`` names it; otherwise whether the
            status is 0 or in ``allowed_exits``.
        """
        if signal is not None:
            return signal in self.allowed_signals
        return exit_status in self.allowed_codes

    async def execute(self, node: Node, formatter: Formatter, keep: int | None) -> CommandResult:
        """Run the command on ``node``; its output lines go to ``formatter``.

        An SshJob calls it, after :meth:`resolved_for`. A command that runs and fails
        is not an error here: see the result's ``allowed``. Neither is a problem met
        on this side before or around the run (a template that cannot be rendered, a
        missing local file, a failed copy): the result then has exit status 1 and
        the reason as its stderr.

        Args:
            node: where to run it.
            formatter: receives its output lines as they come.
            keep: how much output the result keeps: None for all, 0 for none, n for
                the last n characters of stdout (and all of stderr).

        Returns:
            What the command did.

        Raises:
            CommandTimeoutError: the command's ``timeout`` passed; it was stopped.
            ConnectError: the node cannot be reached (also HostKeyError, AuthError).
            KeyFileError: a key file of the node cannot be used.
            ConnectionLostError: the connection dropped while it ran.

        Cancellation:
            A running remote command is stopped (see :meth:`Node.run_line`); a
            transfer stops where it is; a staged script's directory is removed
            (shielded, at most 2 s). No result is returned.
        """
        try:
            line = self.resolved_line()
        except TemplateError as exc:
            return _failed(node, self.command_line(), str(exc), time.time(), formatter)
        return await self._run(node, line, formatter, keep)

    async def _run(
        self,
        node: Node,
        line: str,
        formatter: Formatter,
        keep: int | None,
        shown: str | None = None,
    ) -> CommandResult:
        collector = OutputCollector(
            node.label, formatter, self.capture.limit if self.capture else keep
        )
        raw = await node.run_line(
            line, env=self.env, time_limit=self.timeout, collector=collector, x11=self.x11
        )
        # a value cut to its end is not the value: the variable stays unset (a later
        # Deferred that reads it then fails, naming it), and the result says it was cut
        if self.capture is not None and raw.stdout is not None and not raw.stdout_truncated:
            self.capture.variables[self.capture.varname] = raw.stdout.rstrip("\n")
        return CommandResult(
            host=node.name,
            command=shown or line,
            exit_status=raw.exit_status,
            signal=raw.signal,
            stdout=raw.stdout,
            stderr=raw.stderr,
            started_at=raw.started_at,
            ended_at=raw.ended_at,
            allowed=self.is_allowed(raw.exit_status, raw.signal),
            stderr_tail=raw.stderr_tail,
            stdout_truncated=raw.stdout_truncated,
            stderr_truncated=raw.stderr_truncated,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.command_line()!r})"


def _refuse_none(what: str, parts: tuple[object, ...]) -> None:
    """Refuse a None among a command's parts, which ``str()`` would turn into "None"."""
    for index, part in enumerate(parts, 1):
        if part is None:
            raise jg.InvalidOptionError(
                f"{what}: argument {index} is None; leave it out, or give a string"
            )


class Run(Command):
    """A program and its arguments; each part is quoted, so no shell syntax applies.

    ``Run("ls", "-l", "my file; rm -rf x")`` lists a file with that odd name.
    Parts are converted with ``str()``; a :class:`Deferred` part is rendered, and a
    :class:`jobgraph.ResultOf` part replaced by ``str()`` of the result it stands
    for, just before the command runs (the job holding the command requires the
    placeholder's job).

    Args:
        *argv: the program, then its arguments (at least the program).
        allowed_exits: as for :class:`Command`.
        env: as for :class:`Command`.
        timeout: as for :class:`Command`.
        label: as for :class:`Command`.
        capture: as for :class:`Command`.

    Raises:
        jobgraph.InvalidOptionError: no program given, a part that is None, or a bad
            option.
    """

    _placeholder_fields = ("argv",)

    def __init__(
        self,
        *argv: object,
        allowed_exits: Iterable[int | str] = (),
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        label: str | None = None,
        capture: Capture | None = None,
    ) -> None:
        if not argv:
            raise jg.InvalidOptionError("Run() needs at least a program name")
        _refuse_none("Run()", argv)
        self.argv: tuple[str | Deferred | ResultOf, ...] = tuple(
            part if isinstance(part, Deferred | ResultOf) else str(part) for part in argv
        )
        super().__init__(
            allowed_exits=allowed_exits, env=env, timeout=timeout, label=label, capture=capture
        )

    def command_line(self) -> str:
        return shlex.join(_show(part) for part in self.argv)

    def resolved_line(self) -> str:
        return shlex.join(resolve(part) for part in self.argv)


class Shell(Command):
    """A shell command line, run by the remote shell as written (pipes, globs, ``&&``).

    The line may be a :class:`Deferred` or a :class:`jobgraph.ResultOf` (a job's result
    used as a shell line, as it is).

    Args:
        line: the command line (not empty); on SSH nodes, the remote user's login
            shell runs it.
        allowed_exits: as for :class:`Command`.
        env: as for :class:`Command`.
        timeout: as for :class:`Command`.
        label: as for :class:`Command`.
        capture: as for :class:`Command`.

    Raises:
        jobgraph.InvalidOptionError: an empty line, or a bad option.
    """

    _placeholder_fields = ("line",)

    def __init__(
        self,
        line: str | Deferred | ResultOf,
        *,
        allowed_exits: Iterable[int | str] = (),
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        label: str | None = None,
        capture: Capture | None = None,
    ) -> None:
        if not isinstance(line, Deferred | ResultOf) and (
            not isinstance(line, str) or not line.strip()
        ):
            raise jg.InvalidOptionError(f"Shell() needs a non-empty command line, not {line!r}")
        self.line: str | Deferred | ResultOf = line
        super().__init__(
            allowed_exits=allowed_exits, env=env, timeout=timeout, label=label, capture=capture
        )

    def command_line(self) -> str:
        return _show(self.line)

    def resolved_line(self) -> str:
        return resolve(self.line)


def _show(part: object) -> str:
    """How a part of a command is shown before it runs: a placeholder names its job."""
    return f"<result of {part.job.label}>" if isinstance(part, ResultOf) else str(part)


def _as_text(value: Any) -> Any:
    """A resolved argument as the commands hold it: strings (Deferred kept), in the
    same kind of container."""
    if isinstance(value, list | tuple):
        return type(value)(_as_text(item) for item in value)
    return value if isinstance(value, Deferred) else str(value)


def _failed(
    node: Node, command: str, problem: str, started: float, formatter: Formatter
) -> CommandResult:
    """A command that could not run or complete on our side: exit status 1, the
    reason on stderr (and sent to the formatter)."""
    formatter.line(node.label, "stderr", problem)
    return CommandResult(
        host=node.name,
        command=command,
        exit_status=1,
        signal=None,
        stdout=None,
        stderr=problem,
        started_at=started,
        ended_at=time.time(),
        allowed=False,
        stderr_tail=(problem,),
    )


def _path(value: str | os.PathLike[str] | ResultOf) -> Any:
    return value if isinstance(value, ResultOf) else os.fspath(value)


def _paths(
    value: str | os.PathLike[str] | ResultOf | Iterable[str | os.PathLike[str] | ResultOf],
    what: str,
) -> list[Any]:
    if isinstance(value, str | os.PathLike | ResultOf):
        return [_path(value)]
    paths = [_path(item) for item in value]
    if not paths:
        raise jg.InvalidOptionError(f"{what} needs at least one path")
    return paths


class _FileCommand(Command):
    """A command that moves files; a failure is a failed result (exit status 1)."""

    async def transfer(self, node: Node) -> None:
        """Move the files (:meth:`execute` calls it, within the command's ``timeout``).

        Args:
            node: the node to copy to or from.

        Raises:
            TransferFailed: the copy failed (it becomes a failed result).

        Cancellation:
            The copy stops where it is; what was copied stays.
        """
        raise NotImplementedError

    def missing_local(self) -> list[str]:
        """Local sources that do not exist (checked before anything is sent).

        Returns:
            Their paths; if there are any, the command fails (exit status 1) without
            copying anything.
        """
        return []

    async def execute(self, node: Node, formatter: Formatter, keep: int | None) -> CommandResult:
        started = time.time()
        missing = self.missing_local()
        problem: str | None = f"no such local file: {', '.join(missing)}" if missing else None
        if problem is None:
            try:
                with anyio.fail_after(self.timeout):
                    await self.transfer(node)
            except TransferFailed as exc:
                problem = str(exc)
            except TimeoutError as exc:
                raise CommandTimeoutError(node.name, self.label, self.timeout or 0.0) from exc
        if problem is not None:
            return _failed(node, self.label, problem, started, formatter)
        return CommandResult(
            host=node.name,
            command=self.label,
            exit_status=0,
            signal=None,
            stdout=None,
            stderr=None,
            started_at=started,
            ended_at=time.time(),
            allowed=True,
        )


class Push(_FileCommand):
    """Copy local files and directories (recursively) into a directory of the node, over
    SFTP; permissions and times are kept unless ``preserve=False``. The remote directory
    is made if needed. A missing local file or an unwritable remote path fails the
    command (exit status 1, the reason in ``stderr``). Paths may be
    :class:`jobgraph.ResultOf` placeholders.

    Args:
        local_paths: a local file or directory, or several (at least one).
        remote_dir: the node's directory to copy into (relative: from the remote
            user's home).
        preserve: keep permission bits and times (default True).
        timeout: seconds the copy may take; it is then stopped, and the job fails
            with :class:`~jobgraph_ssh.CommandTimeoutError`. None for no limit.
        label: how listings name the command (default ``push PATHS -> DIR``).

    Raises:
        jobgraph.InvalidOptionError: for an empty list of paths or a bad timeout.
    """

    _placeholder_fields = ("local_paths", "remote_dir")

    def __init__(
        self,
        local_paths: str
        | os.PathLike[str]
        | ResultOf
        | Iterable[str | os.PathLike[str] | ResultOf],
        remote_dir: str | ResultOf,
        *,
        preserve: bool = True,
        timeout: float | None = None,
        label: str | None = None,
    ) -> None:
        self.local_paths = _paths(local_paths, "Push")
        self.remote_dir: Any = remote_dir if isinstance(remote_dir, ResultOf) else str(remote_dir)
        self.preserve = preserve
        super().__init__(timeout=timeout, label=label)

    def command_line(self) -> str:
        paths = " ".join(shlex.quote(_show(path)) for path in self.local_paths)
        return f"push {paths} -> {_show(self.remote_dir)}"

    def missing_local(self) -> list[str]:
        return [path for path in self.local_paths if not os.path.exists(path)]

    async def transfer(self, node: Node) -> None:
        await node.push(self.local_paths, self.remote_dir, preserve=self.preserve)


class Pull(_FileCommand):
    """Copy files and directories of the node (recursively) into a local directory, over
    SFTP; permissions and times are kept unless ``preserve=False``. Paths may be
    :class:`jobgraph.ResultOf` placeholders. A missing remote file fails the command
    (exit status 1, the reason in ``stderr``).

    Args:
        remote_paths: a file or directory of the node, or several (at least one).
        local_dir: the local directory to copy into, made if needed. Pulling from
            many nodes into one directory mixes their files: give each its own.
        preserve: keep permission bits (masked to 0o777: never setuid, setgid or
            sticky) and times (default True).
        timeout: seconds the copy may take; it is then stopped, and the job fails
            with :class:`~jobgraph_ssh.CommandTimeoutError`. None for no limit.
        label: how listings name the command (default ``pull PATHS -> DIR``).
        dir_mode: the mode of ``local_dir`` when the command makes it (default
            0o700: only this user reads what the host sent); an existing directory
            is left as it is.

    On SSH nodes nothing the host says can write outside ``local_dir``: names with
    ``/``, ``.`` or ``..`` and symlinks leading outside fail the command (see
    :doc:`/security`).

    Raises:
        jobgraph.InvalidOptionError: for an empty list of paths, a bad timeout or
            ``dir_mode``.
    """

    _placeholder_fields = ("remote_paths", "local_dir")

    def __init__(
        self,
        remote_paths: str | ResultOf | Iterable[str | ResultOf],
        local_dir: str | os.PathLike[str] | ResultOf,
        *,
        preserve: bool = True,
        timeout: float | None = None,
        label: str | None = None,
        dir_mode: int = 0o700,
    ) -> None:
        self.remote_paths = _paths(remote_paths, "Pull")
        self.local_dir: Any = _path(local_dir)
        self.preserve = preserve
        if (
            isinstance(dir_mode, bool)
            or not isinstance(dir_mode, int)
            or not 0 <= dir_mode <= 0o777
        ):
            raise jg.InvalidOptionError(
                f"Pull: dir_mode must be a mode in 0o000..0o777, not {dir_mode!r}"
            )
        self.dir_mode = dir_mode
        super().__init__(timeout=timeout, label=label)

    def command_line(self) -> str:
        paths = " ".join(shlex.quote(_show(path)) for path in self.remote_paths)
        return f"pull {paths} -> {_show(self.local_dir)}"

    async def transfer(self, node: Node) -> None:
        await anyio.to_thread.run_sync(_make_directory, self.local_dir, self.dir_mode)
        await node.pull(self.remote_paths, self.local_dir, preserve=self.preserve)


def _make_directory(path: str, mode: int) -> None:
    """Make ``path`` (and its parents) if needed; the last one made gets ``mode``
    exactly (not reduced by the umask)."""
    if os.path.isdir(path):
        return
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, mode)


class StagedCommand(Command):
    """A script copied to a fresh remote directory, run there with its arguments, removed.

    The script is a local file (``local_script``, copied as it is) or a text (``body``,
    stored as ``script_name``); a subclass that stages something else overrides
    :meth:`files` (and :meth:`missing_local`). A subclass sets ``script_name``, the
    script's file name on the node, before calling this constructor.

    Args:
        args: the script's arguments (``str()``, :class:`Deferred` or
            :class:`jobgraph.ResultOf`).
        includes: local files or directories copied next to the script.
        allowed_exits: as for :class:`Command`.
        env: as for :class:`Command`.
        timeout: as for :class:`Command`.
        label: as for :class:`Command`.
        capture: as for :class:`Command`.
        local_script: the script's local path, or None.
        body: the script's text, or None.
    """

    script_name: str
    _placeholder_fields = ("args",)

    def __init__(
        self,
        args: tuple[object, ...],
        includes: Iterable[str | os.PathLike[str]],
        *,
        allowed_exits: Iterable[int | str],
        env: Mapping[str, str] | None,
        timeout: float | None,
        label: str | None,
        capture: Capture | None,
        local_script: str | os.PathLike[str] | None = None,
        body: str | None = None,
    ) -> None:
        self.args: tuple[str | Deferred | ResultOf, ...] = tuple(
            arg if isinstance(arg, Deferred | ResultOf) else str(arg) for arg in args
        )
        self.includes = [os.fspath(path) for path in includes]
        self.local_script = None if local_script is None else os.fspath(local_script)
        self.body = body
        super().__init__(
            allowed_exits=allowed_exits, env=env, timeout=timeout, label=label, capture=capture
        )

    def files(self) -> tuple[list[str], dict[str, bytes]]:
        """What to copy to the script's remote directory: the local script (or the body,
        as ``script_name``), then the ``includes``.

        Returns:
            (local files to copy, file contents by name).

        Raises:
            NotImplementedError: a subclass gave neither ``local_script`` nor ``body``
                and does not override this method.
        """
        if self.local_script is not None:
            return [self.local_script, *self.includes], {}
        if self.body is not None:
            return list(self.includes), {self.script_name: self.body.encode()}
        raise NotImplementedError(f"{type(self).__name__} stages no script")

    def missing_local(self) -> list[str]:
        """Local files (the script, ``includes``) that do not exist.

        Returns:
            Their paths; if there are any, the command fails (exit status 1) without
            copying or running anything.
        """
        script = self.local_script
        missing = [] if script is None or os.path.isfile(script) else [script]
        return missing + [path for path in self.includes if not os.path.exists(path)]

    def command_line(self) -> str:
        return self.join_line([self.script_name, *map(_show, self.args)])

    def join_line(self, parts: list[str]) -> str:
        """The command line made of the script's path and its arguments (each quoted);
        a subclass may join them otherwise.

        Args:
            parts: the script's path, then its arguments (rendered).

        Returns:
            The line the node's shell runs.
        """
        return shlex.join(parts)

    def remote_line(self, path: str, args: list[str]) -> str:
        """The command line run on the node for the staged script; a subclass may wrap
        it (the apssh drop-in runs a verbose script under ``bash -x``).

        Args:
            path: where the script was copied on the node.
            args: its arguments, placeholders and templates already resolved.

        Returns:
            The line, joined by :meth:`join_line`.
        """
        return self.join_line([path, *args])

    async def execute(self, node: Node, formatter: Formatter, keep: int | None) -> CommandResult:
        started = time.time()
        missing = self.missing_local()
        problem = f"no such local file: {', '.join(missing)}" if missing else None
        args: list[str] = []
        try:
            args = [resolve(arg) for arg in self.args]
        except TemplateError as exc:
            problem = str(exc)
        if problem is not None:
            return _failed(node, self.command_line(), problem, started, formatter)
        remote_dir = node.staging_dir()
        try:
            files, contents = self.files()
            try:
                await node.stage(remote_dir, files, contents, self.script_name)
            except TransferFailed as exc:
                return _failed(node, self.command_line(), str(exc), started, formatter)
            line = self.remote_line(f"{remote_dir}/{self.script_name}", args)
            return await self._run(node, line, formatter, keep, shown=self.command_line())
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                await node.unstage(remote_dir)


class RunScript(StagedCommand):
    """Copy a local script (and ``includes``, files it needs) to a fresh remote
    directory (under ``~/.jobgraph-scripts`` on SSH nodes), run it with ``args`` (each
    quoted), then remove the directory. The script needs a ``#!`` line.

    The directory is removed however the command ends, cancellation included
    (shielded, at most 2 s). A missing local file fails the command (exit status 1)
    before anything is copied.

    Args:
        local_script: the script's local path; it keeps its file name remotely.
        *args: its arguments, as for :class:`Run` (``str()``, :class:`Deferred` or
            :class:`jobgraph.ResultOf`).
        includes: local files or directories copied next to the script.
        allowed_exits: as for :class:`Command`.
        env: as for :class:`Command`.
        timeout: as for :class:`Command` (the copy is not counted).
        label: as for :class:`Command`.
        capture: as for :class:`Command`.

    Raises:
        jobgraph.InvalidOptionError: the script or an argument is None.
    """

    def __init__(
        self,
        local_script: str | os.PathLike[str],
        *args: object,
        includes: Iterable[str | os.PathLike[str]] = (),
        allowed_exits: Iterable[int | str] = (),
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        label: str | None = None,
        capture: Capture | None = None,
    ) -> None:
        _refuse_none("RunScript()", (local_script, *args))
        self.script_name = os.path.basename(os.fspath(local_script))
        super().__init__(
            args,
            includes,
            allowed_exits=allowed_exits,
            env=env,
            timeout=timeout,
            label=label,
            capture=capture,
            local_script=local_script,
        )


class RunString(StagedCommand):
    """Like :class:`RunScript`, for a script given as a string (``body``, with its
    ``#!`` line), stored remotely as ``remote_name``.

    Args:
        body: the script's text, ``#!`` line first.
        *args: its arguments, as for :class:`Run`.
        remote_name: the script's file name on the node (default ``"script"``), as
            listings show it.
        includes: local files or directories copied next to the script.
        allowed_exits: as for :class:`Command`.
        env: as for :class:`Command`.
        timeout: as for :class:`Command` (the copy is not counted).
        label: as for :class:`Command`.
        capture: as for :class:`Command`.

    Raises:
        jobgraph.InvalidOptionError: ``remote_name`` is empty or holds a ``/``; the
            body or an argument is None.
    """

    def __init__(
        self,
        body: str,
        *args: object,
        remote_name: str = "script",
        includes: Iterable[str | os.PathLike[str]] = (),
        allowed_exits: Iterable[int | str] = (),
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        label: str | None = None,
        capture: Capture | None = None,
    ) -> None:
        if "/" in remote_name or not remote_name:
            raise jg.InvalidOptionError(
                f"RunString: remote_name must be a file name, not {remote_name!r}"
            )
        _refuse_none("RunString()", (body, *args))
        self.script_name = remote_name
        super().__init__(
            args,
            includes,
            allowed_exits=allowed_exits,
            env=env,
            timeout=timeout,
            label=label,
            capture=capture,
            body=body,
        )
