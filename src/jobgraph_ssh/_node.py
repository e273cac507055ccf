"""Nodes: where commands run. :class:`SshNode` (a remote host) and :class:`LocalNode`."""

from __future__ import annotations

import functools
import ipaddress
import os
import shutil
import signal as signals
import stat
import subprocess
import tempfile
import time
import uuid
import weakref
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast, overload

import anyio
import anyio.abc
import anyio.to_thread

import jobgraph as jg
from jobgraph.lowlevel import emit_note

from ._asyncssh import _connection, _glue
from ._asyncssh._connection import KILL_POLL
from ._errors import CommandTimeoutError
from ._formatters import Formatter, HostFormatter
from ._limits import Limits
from ._options import SshOptions, checked_grace, with_overrides

if TYPE_CHECKING:
    from ._asyncssh._connection import OutputCollector, RawOutcome

__all__ = ["LocalNode", "Node", "SshNode", "close_all"]


class Node:
    """What every node offers to commands (subclassed by SshNode and LocalNode).

    A new kind of node subclasses it and implements :attr:`name`, :meth:`run_line`,
    :meth:`push`, :meth:`pull`, :meth:`stage` and :meth:`unstage` (and :meth:`close` if
    it holds something open).

    Args:
        label: how output lines are prefixed; None for :attr:`name`.
        formatter: where output lines go; None for a :class:`HostFormatter` (stdout
            and stderr of this process).
    """

    depth = 0
    gateway: SshNode | None = None
    staging_root = ".jobgraph-scripts"  # where scripts are copied (relative: home)

    def __init__(self, *, label: str | None = None, formatter: Formatter | None = None) -> None:
        self._label = label
        self.formatter: Formatter = formatter if formatter is not None else HostFormatter()

    @property
    def name(self) -> str:
        """How errors name the node."""
        raise NotImplementedError

    @property
    def label(self) -> str:
        """How output lines are prefixed (the ``label`` given, else :attr:`name`)."""
        return self._label if self._label is not None else self.name

    async def run_line(
        self,
        line: str,
        *,
        env: Mapping[str, str] | None,
        time_limit: float | None,
        collector: OutputCollector,
        x11: bool = False,
    ) -> RawOutcome:
        """Run a shell command line on the node, streaming its output (commands call this).

        The line runs with no stdin. An SSH node opens its connection if needed, then
        waits for a free channel on it (see ``max_channels``); the local node runs
        ``/bin/sh -c line`` in a session of its own.

        Args:
            line: the command line, given as it is to the node's shell.
            env: variables to set for the command (added to the node's environment),
                or None.
            time_limit: seconds the command may run once started (the wait for a
                channel does not count); None for no limit.
            collector: receives each output line as it comes (it passes them to the
                formatter) and keeps what the command asked to keep.
            x11: ask for X11 forwarding (SSH nodes, where a server that refuses it
                does not fail the command; a local command sees the local display).

        Returns:
            The outcome (exit status or signal name, the output kept, the last
            stderr lines, wall-clock start and end). A non-zero status is not an
            error here.

        Raises:
            CommandTimeoutError: ``time_limit`` passed; the command was stopped as on
                cancellation.
            ConnectError: the connection cannot be opened (also its subclasses
                HostKeyError and AuthError), or no channel can be opened on it.
            KeyFileError: a key file of the node cannot be used.
            ConnectionLostError: the connection dropped while the command ran.

        Cancellation:
            The command is stopped, without waiting for it to end: on an SSH node
            it gets a ``TERM`` signal request and its channel is closed (the channel
            slot is free at once; a command stopped before its pid line came back
            keeps its channel until that line comes, at most 2 s, in the
            background), and with ``kill_group`` its remote process group
            gets SIGTERM through another channel, then SIGKILL after the node's
            ``kill_grace`` if it is still there (a detached remote loop waits, not
            the caller); a local command's process group gets SIGTERM, then SIGKILL
            after ``kill_grace`` (the caller waits for it, shielded). Under trio,
            the caller waits at most 2 s (shielded) for the clean-up on the asyncio
            side.
        """
        raise NotImplementedError

    async def push(self, local_paths: list[str], remote_dir: str, *, preserve: bool) -> None:
        """Copy local files and directories (recursively) into a directory of the node.

        SSH nodes copy over SFTP, on a channel of the shared connection.

        Args:
            local_paths: the local files and directories to copy.
            remote_dir: the directory of the node to copy them into (made, with its
                parents, if needed).
            preserve: keep the files' permission bits and times.

        Raises:
            TransferFailed: saying what failed and why (a Push command makes it a
                failed result rather than an error).
            ConnectError: the connection cannot be opened (see :meth:`run_line`).
            ConnectionLostError: the connection dropped during the copy.

        Cancellation:
            An SSH copy stops where it is: files already copied, and part of the
            one being copied, stay on the node. A local copy runs in a worker thread
            and finishes before the cancellation is delivered.
        """
        raise NotImplementedError

    async def pull(self, remote_paths: list[str], local_dir: str, *, preserve: bool) -> None:
        """Copy files and directories of the node (recursively) into a local directory.

        Args:
            remote_paths: the node's files and directories to copy.
            local_dir: the local directory to copy them into (a Pull command makes
                it first; an SSH node does not).
            preserve: keep the files' permission bits and times.

        Raises:
            TransferFailed: saying what failed and why (a Pull command makes it a
                failed result rather than an error).
            ConnectError: the connection cannot be opened (see :meth:`run_line`).
            ConnectionLostError: the connection dropped during the copy.

        Cancellation:
            As for :meth:`push`: an SSH copy stops where it is, leaving what was
            copied; a local copy finishes first.
        """
        raise NotImplementedError

    def staging_dir(self) -> str:
        """A new directory name for one staged script (see :meth:`stage`).

        Returns:
            ``staging_root/<random name>``, not made yet (the local node makes a
            private one, mode 0700, under the system's temporary directory).
        """
        return f"{self.staging_root}/{uuid.uuid4().hex[:16]}"

    async def stage(
        self, remote_dir: str, files: list[str], contents: dict[str, bytes], executable: str
    ) -> None:
        """Make a directory on the node holding a script and the files it needs.

        The directory (and ``staging_root`` if made) is made with mode 0700 and the
        ``contents`` files 0600 (0700 for the executable) from the start, so no
        other user of the node can read or replace them at any time.

        Args:
            remote_dir: the directory to make (with its parents), given by
                :meth:`staging_dir`; relative paths are from the remote user's home
                on SSH nodes.
            files: local files and directories to copy into it (modes and times kept).
            contents: more files to write into it, as ``{name: bytes}``.
            executable: the name of one of these files, made executable (mode 0700).

        Raises:
            TransferFailed: saying what failed and why (the command then fails).
            ConnectError: the connection cannot be opened (see :meth:`run_line`).
            ConnectionLostError: the connection dropped during the copy.

        Cancellation:
            Staging stops where it is; the commands that stage remove the directory
            with :meth:`unstage` afterwards, shielded.
        """
        raise NotImplementedError

    async def unstage(self, remote_dir: str) -> None:
        """Remove a directory made by :meth:`stage`, with what it holds.

        Errors are ignored (a lost connection too): the directory may then stay.

        Args:
            remote_dir: the directory to remove.

        Cancellation:
            An SSH removal stops where it is (a local one finishes first). The
            commands call it under a shielded scope bounded to 2 s, so a cancelled
            job still cleans up.
        """
        raise NotImplementedError

    async def close(self) -> None:
        """Close what the node holds open (nothing for a local node).

        Cancellation:
            Nothing is held here, so nothing is cut short; see :meth:`SshNode.close`.
        """


_T = TypeVar("_T")


class _Option(Generic[_T]):
    """An SshNode attribute that reads (and, set, replaces) a field of its options."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.__doc__ = f"``options.{name}`` (see :class:`SshOptions`); setting it replaces it."

    @overload
    def __get__(self, node: None, owner: type | None = None) -> _Option[_T]: ...
    @overload
    def __get__(self, node: SshNode, owner: type | None = None) -> _T: ...
    def __get__(self, node: SshNode | None, owner: type | None = None) -> _T | _Option[_T]:
        if node is None:
            return self
        value: _T = getattr(node._options, self.name)
        return value

    def __set__(self, node: SshNode, value: _T) -> None:
        node._options = with_overrides(node._options, node._where(), {self.name: value})


class SshNode(Node):
    """A remote host reached over SSH, possibly through a gateway (another SshNode).

    The node opens its connection lazily, the first time a command needs it, and
    every job and command on the node shares it: when 50 jobs start at once, one
    handshake is made. Gateways chain to any depth (asyncssh's ``tunnel=``); a
    gateway's connection is opened first and shared by the nodes behind it. The
    connection stays open after the jobs end: close it with :func:`close_all` (the
    event loop's end closes it otherwise). Handshakes in the whole process are
    limited (:func:`set_limits`, default 8 at once). Nothing is checked on the
    network when the node is made.

    How to connect is one :class:`SshOptions` (``node.options``): given as
    ``options``, or as keyword arguments named as its fields (``username``,
    ``port``, ``keys``, ``passphrase``, ``connect_timeout``, ``keepalive_interval``,
    ``known_hosts``, ``host_key_policy``, ``max_channels``, ``limits``,
    ``kill_group``, ``kill_grace``), or both: the keywords replace those fields of ``options``. Each
    field is also an attribute of the node; setting one (``node.port = 2222``)
    replaces it in ``node.options``, checked again.

    Args:
        hostname: the host name or address.
        options: how to connect (see :class:`SshOptions`); None for its defaults.
        gateway: an SshNode to reach this host through (None: directly).
        formatter: where output lines go (default :class:`HostFormatter`).
        label: how output lines are prefixed (default: :attr:`name`).
        **overrides: fields of :class:`SshOptions` that replace those of
            ``options`` (``SshNode("h", username="u", port=2222)``).

    Raises:
        jobgraph.InvalidOptionError: for an empty or missing hostname, a gateway
            that is not an SshNode, ``options`` that is not an SshOptions, or a value
            :class:`SshOptions` refuses (the message names the node and the field).
        TypeError: a keyword that is not a field of :class:`SshOptions`.
    """

    #: True in a subclass whose connections live on jobgraph_ssh's background asyncio
    #: loop under asyncio too (as under trio), so that they outlive the event loop of a
    #: synchronous run (the apssh drop-in's nodes); False: on the running loop.
    background_loop: ClassVar[bool] = False

    username = _Option[str | None]()
    port = _Option[int]()
    passphrase = _Option[str | None]()
    connect_timeout = _Option[float | None]()
    keepalive_interval = _Option[float]()
    known_hosts = _Option[str | os.PathLike[str] | None]()
    host_key_policy = _Option[str]()
    max_channels = _Option[int | None]()
    limits = _Option[Limits | None]()
    kill_group = _Option[bool]()
    kill_grace = _Option[float]()

    def __init__(
        self,
        hostname: str,
        *,
        options: SshOptions | None = None,
        gateway: SshNode | None = None,
        formatter: Formatter | None = None,
        label: str | None = None,
        **overrides: Any,
    ) -> None:
        given: object = hostname  # an ipaddress address is taken too, as its str()
        if isinstance(given, ipaddress.IPv4Address | ipaddress.IPv6Address):
            hostname = str(given)
        elif not isinstance(given, str) or not given.strip():
            raise jg.InvalidOptionError(
                f"SshNode: hostname must be a host name or address, not {given!r}"
            )
        super().__init__(label=label, formatter=formatter)
        self.hostname = hostname
        if options is None:
            options = _DEFAULT_OPTIONS
        elif not isinstance(options, SshOptions):
            raise jg.InvalidOptionError(
                f"{self._where()}: options must be an SshOptions, not {options!r}"
            )
        self._options = with_overrides(options, self._where(), overrides)
        if gateway is not None and not isinstance(gateway, SshNode):
            raise jg.InvalidOptionError(
                f"{self._where()}: gateway must be an SshNode, not {gateway!r}"
            )
        self.gateway = gateway
        self.depth = 0 if gateway is None else gateway.depth + 1
        self._links: weakref.WeakKeyDictionary[Any, _connection.Link] = weakref.WeakKeyDictionary()

    def _where(self) -> str:
        return f"SshNode {self.hostname!r}"

    @property
    def options(self) -> SshOptions:
        """How the node connects: the options given, with the keywords applied."""
        return self._options

    @property
    def keys(self) -> list[Any] | None:
        """The key files (as str) and key objects offered, or None (``options.keys``);
        settable as ``keys=`` is."""
        keys = self._options.keys
        return None if keys is None else list(cast("tuple[Any, ...]", keys))

    @keys.setter
    def keys(self, keys: object) -> None:
        self._options = with_overrides(self._options, self._where(), {"keys": keys})

    @property
    def known_hosts_path(self) -> Path:
        """The known_hosts file checked: ``options.known_hosts``, else
        ``~/.ssh/known_hosts``."""
        given = self._options.known_hosts
        return Path(given) if given is not None else _connection.default_known_hosts()

    @property
    def name(self) -> str:
        """``user@host:port`` (user and port shown when given / not 22)."""
        user = f"{self.username}@" if self.username else ""
        port = f":{self.port}" if self.port != 22 else ""
        return f"{user}{self.hostname}{port}"

    def __repr__(self) -> str:
        via = f" via {self.gateway.name}" if self.gateway is not None else ""
        return f"<SshNode {self.name}{via}>"

    def is_connected(self) -> bool:
        """Whether the node's connection is open now.

        Returns:
            True if it is open on any event loop (a node used from asyncio and from
            trio has one connection on each).
        """
        return any(link.alive() for link in list(self._links.values()))

    async def connect(self) -> None:
        """Open the connection now, if it is not open (commands do it when needed).

        Gateways are connected first. Concurrent callers share one handshake.

        Raises:
            ConnectError: the host (or a gateway) cannot be reached, the handshake
                failed or took longer than ``connect_timeout``, or known_hosts
                cannot be read; the message names the host and the gateway.
            HostKeyError: the host's key is unknown or changed (a ConnectError).
            AuthError: the server accepted none of the keys (a ConnectError).
            KeyFileError: a key file cannot be read or decrypted.

        Cancellation:
            The handshake is abandoned and nothing is kept: the next command, or
            call, starts another.
        """
        await _glue.call(_ensure_connected, self)

    async def close(self) -> None:
        """Close the node's connection (its gateways stay open).

        Remote kills of stopped commands still under way are given up to 4 s first;
        then the connection is closed and its end awaited (up to 2 s). Closing a
        node never connected does nothing; a later command opens a new connection.

        Cancellation:
            The close is cut short: if it comes before the connection is closed,
            the connection stays open.
        """
        await _glue.call(_connection.close_link, self)

    async def run_line(
        self,
        line: str,
        *,
        env: Mapping[str, str] | None,
        time_limit: float | None,
        collector: OutputCollector,
        x11: bool = False,
    ) -> RawOutcome:
        run = functools.partial(_connection.execute, x11=x11)
        return await _glue.call(run, self, line, env, time_limit, collector)

    async def push(self, local_paths: list[str], remote_dir: str, *, preserve: bool) -> None:
        await _glue.call(_connection.sftp_put, self, local_paths, remote_dir, preserve)

    async def pull(self, remote_paths: list[str], local_dir: str, *, preserve: bool) -> None:
        await _glue.call(_connection.sftp_get, self, remote_paths, local_dir, preserve)

    async def stage(
        self, remote_dir: str, files: list[str], contents: dict[str, bytes], executable: str
    ) -> None:
        await _glue.call(_connection.sftp_stage, self, remote_dir, files, contents, executable)

    async def unstage(self, remote_dir: str) -> None:
        await _glue.call(_connection.sftp_remove_tree, self, remote_dir)


_DEFAULT_OPTIONS = SshOptions()


async def _ensure_connected(node: SshNode) -> None:
    await _connection.link_for(node).connection()


class LocalNode(Node):
    """The local host: commands run as local ``/bin/sh -c`` processes, through anyio.

    No connection, no limit on commands at once; scripts are staged under the
    system's temporary directory. A stopped command's process group gets SIGTERM,
    then SIGKILL after ``kill_grace`` seconds if a process of the group is still
    there (the stop waits for that, shielded).

    Args:
        kill_grace: seconds a stopped command's process group gets between SIGTERM
            and SIGKILL (default 2; 0: SIGKILL at once).
        formatter: where output lines go (default :class:`HostFormatter`).
        label: how output lines are prefixed (default ``"localhost"``).

    Raises:
        jobgraph.InvalidOptionError: ``kill_grace`` is not a number >= 0.
    """

    def __init__(
        self,
        *,
        kill_grace: float = _connection.KILL_GRACE,
        formatter: Formatter | None = None,
        label: str | None = None,
    ) -> None:
        super().__init__(label=label, formatter=formatter)
        self.kill_grace = checked_grace(kill_grace, "LocalNode")

    @property
    def name(self) -> str:
        return "localhost"

    def __repr__(self) -> str:
        return "<LocalNode>"

    async def run_line(
        self,
        line: str,
        *,
        env: Mapping[str, str] | None,
        time_limit: float | None,
        collector: OutputCollector,
        x11: bool = False,
    ) -> RawOutcome:
        del x11
        started = time.time()
        full_env = {**os.environ, **env} if env else None
        process = await anyio.open_process(
            ["/bin/sh", "-c", line],
            stdin=subprocess.DEVNULL,
            env=full_env,
            start_new_session=True,
        )
        try:
            with anyio.fail_after(time_limit):
                async with anyio.create_task_group() as group:
                    assert process.stdout is not None
                    assert process.stderr is not None
                    group.start_soon(_read_lines, process.stdout, collector.out)
                    group.start_soon(_read_lines, process.stderr, collector.err)
                status = await process.wait()
        except TimeoutError as exc:
            await _stop_group(process, self.kill_grace)
            raise CommandTimeoutError(self.name, line, time_limit or 0.0) from exc
        except BaseException:
            await _stop_group(process, self.kill_grace)
            raise
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(_glue.SETTLE_TIMEOUT):
                await process.aclose()
        if status < 0:
            return collector.outcome(
                None, signals.Signals(-status).name.removeprefix("SIG"), started
            )
        return collector.outcome(status, None, started)

    async def push(self, local_paths: list[str], remote_dir: str, *, preserve: bool) -> None:
        await anyio.to_thread.run_sync(
            lambda: _copy_into(local_paths, remote_dir, preserve=preserve)
        )

    async def pull(self, remote_paths: list[str], local_dir: str, *, preserve: bool) -> None:
        await anyio.to_thread.run_sync(
            lambda: _copy_into(remote_paths, local_dir, preserve=preserve)
        )

    def staging_dir(self) -> str:
        """A new private directory for one staged script, made now (mode 0700, by
        :func:`tempfile.mkdtemp`: never one another user made or can enter).

        Returns:
            Its path.
        """
        return tempfile.mkdtemp(prefix="jobgraph-script-")

    async def stage(
        self, remote_dir: str, files: list[str], contents: dict[str, bytes], executable: str
    ) -> None:
        def work() -> None:
            _copy_into(files, remote_dir, preserve=True)
            for name, data in contents.items():
                _write_new(Path(remote_dir, name), data, 0o700 if name == executable else 0o600)
            Path(remote_dir, executable).chmod(0o700)

        await anyio.to_thread.run_sync(work)

    async def unstage(self, remote_dir: str) -> None:
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(remote_dir, ignore_errors=True))


def _copy_masked(source: str, target: str | os.PathLike[str], *, preserve: bool) -> None:
    """Copy a file's content; with ``preserve``, its mode, masked to 0o777 (no setuid,
    setgid or sticky bit: a root controller must not make a setuid-root copy of another
    user's file), and its times. A preserved copy is 0600 until its content is in; a
    plain one gets the default mode (0666 less the umask), as ``cp`` and SFTP give. An
    existing file is overwritten, never through a symlink."""
    st = os.stat(source)
    if os.path.islink(target):
        os.unlink(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(target, flags, 0o600 if preserve else 0o666)
    with open(source, "rb") as reader, os.fdopen(fd, "wb") as writer:
        shutil.copyfileobj(reader, writer)
        if preserve:
            os.fchmod(writer.fileno(), stat.S_IMODE(st.st_mode) & 0o777)
    if preserve:
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


def _copy_into(sources: list[str], directory: str, *, preserve: bool) -> None:
    """Copy files and directories into a directory (made if needed), like ``cp -r[p]``:
    with ``preserve``, modes (masked to 0o777) and times are kept; without, files get
    the default mode and a fresh time, as over SFTP."""
    copy = functools.partial(_copy_masked, preserve=preserve)
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
        for source in sources:
            target = Path(directory, Path(source).name)
            if Path(source).is_dir():
                shutil.copytree(source, target, copy_function=copy, dirs_exist_ok=True)
            else:
                copy(source, target)
    except OSError as exc:
        what = f"copy {', '.join(sources)} to {directory}"
        raise _connection.TransferFailed(f"{what}: {exc.strerror or exc}") from exc


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write a new file, made with ``mode`` at once (never through a symlink)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, mode)
    except OSError as exc:
        raise _connection.TransferFailed(f"cannot write {path}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def _signal_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to process group ``pgid``; False if the group is gone."""
    if pgid <= 1:  # never killpg(0) or killpg(1)
        return False
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _stop_group(process: anyio.abc.Process, grace: float) -> None:
    """SIGTERM to the command's process group (its own session), then SIGKILL after
    ``grace`` seconds if a process of the group is still there; shielded, so a
    cancelled caller still waits for it (at most ``grace`` and a bit)."""
    pgid = process.pid
    if not _signal_group(pgid, signals.SIGTERM):
        return
    with anyio.CancelScope(shield=True):
        deadline = anyio.current_time() + grace
        with anyio.move_on_after(grace):
            await process.wait()  # the shell first; its children may linger
        # once the shell is reaped, the group lives on while any other member does
        while _signal_group(pgid, 0) and anyio.current_time() < deadline:  # noqa: ASYNC110 - polls the OS
            await anyio.sleep(KILL_POLL)
        _signal_group(pgid, signals.SIGKILL)


async def _read_lines(stream: anyio.abc.ByteReceiveStream, sink: Any) -> None:
    """Each line of ``stream`` to ``sink``, as it ends. A line's pieces are kept apart
    until its newline comes, so that a long line costs time in proportion to its length
    (not its length squared)."""
    pending: list[bytes] = []  # the pieces of the line not yet ended
    async for chunk in stream:
        if b"\n" not in chunk:
            pending.append(chunk)
            continue
        first, *lines, rest = chunk.split(b"\n")
        pending.append(first)
        sink(b"".join(pending).decode(errors="replace") + "\n")
        for line in lines:
            sink(line.decode(errors="replace") + "\n")
        pending = [rest] if rest else []
    if pending:
        sink(b"".join(pending).decode(errors="replace"))


def _found_nodes(things: Iterable[Any]) -> Iterator[tuple[Node, Any]]:
    """Each node in nodes, jobs with a ``node``, schedulers (nested too) and iterables of
    these, with the job that named it (None for a node given as such)."""
    for thing in things:
        if isinstance(thing, Node):
            yield thing, None
        elif isinstance(thing, jg.Scheduler):
            yield from _found_nodes(thing.jobs)
        elif isinstance(getattr(thing, "node", None), Node):
            yield thing.node, thing
        elif isinstance(thing, Iterable) and not isinstance(thing, str | bytes):
            yield from _found_nodes(thing)


def nodes_of(things: Iterable[Any], *, with_gateways: bool) -> list[Node]:
    """The nodes of nodes, jobs with a ``node``, schedulers (nested too), iterables of
    these; with their gateways (at any depth) if asked. In order, without repeats."""
    found = dict.fromkeys(node for node, _ in _found_nodes(things))
    if with_gateways:
        for node in list(found):
            gateway = node.gateway
            while gateway is not None:
                found[gateway] = None
                gateway = gateway.gateway
    return list(found)


async def close_all(*things: Any) -> None:
    """Close the connections of nodes, remotest first (a gateway after the nodes behind it).

    Takes nodes, jobs with a ``node`` (SshJob), schedulers (their jobs, nested
    schedulers included) and iterables of these. Gateways of the nodes found are
    closed too. Nodes at the same depth close concurrently.

    Each connection that was open is reported as closed: to the node's formatter
    (shown when verbose) and, when a job given (or held by a scheduler given) runs on
    that node (or behind that gateway) and its scheduler is running, as a
    ``"disconnected"`` note of that job (``host``, ``closed=True``) to the run's
    subscribers and report, like the notes an SshJob sends while it runs.

    Args:
        *things: nodes, jobs, schedulers, or iterables of these.

    Cancellation:
        Stops where it is: connections not yet closed may stay open (a later
        ``close_all`` closes them).
    """
    by_depth: dict[int, list[Node]] = {}
    for node in nodes_of(things, with_gateways=True):
        by_depth.setdefault(node.depth, []).append(node)
    tellers = _tellers_of(things)

    for depth in sorted(by_depth, reverse=True):
        nodes = by_depth[depth]
        were_open = [node for node in nodes if isinstance(node, SshNode) and node.is_connected()]
        # plain SshNodes close together in one trip to asyncssh's loop (under trio, one
        # hand-over for the whole depth, not one per node); other kinds close themselves
        plain = [n for n in nodes if isinstance(n, SshNode) and type(n).close is SshNode.close]
        async with anyio.create_task_group() as group:
            for on_background in (False, True):  # see SshNode.background_loop
                same = [n for n in plain if n.background_loop is on_background]
                if same:
                    group.start_soon(_glue.call, _connection.close_links, *same)
            for node in nodes:
                if node not in plain:
                    group.start_soon(node.close)
        for node in were_open:
            teller = tellers.get(node)
            if teller is not None:
                emit_note(teller, "disconnected", host=node.name, closed=True)


def _tellers_of(things: Iterable[Any]) -> dict[Node, Any]:
    """A job per node (the last found) that can tell the run its node closed; a gateway
    gets one of the jobs behind it."""
    tellers: dict[Node, Any] = {}
    for found, job in _found_nodes(things):
        node: Node | None = found if job is not None else None
        while node is not None:
            tellers[node] = job
            node = node.gateway
    return tellers
