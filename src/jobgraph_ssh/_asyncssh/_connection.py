"""The asyncssh side: shared lazy connections, limiters, host keys, remote processes.

Everything here runs on an asyncio loop (the running one under asyncio, the
background one under trio: see :mod:`._glue`); nodes reach it through
:func:`._glue.call` only. asyncio objects (locks, semaphores, connections) belong
to one loop, so each node keeps one :class:`Link` per loop it was used on.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import math
import os
import posixpath
import shlex
import stat
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import asyncssh

from jobgraph_ssh import _limits
from jobgraph_ssh._errors import (
    AuthError,
    CommandTimeoutError,
    ConnectError,
    ConnectionLostError,
    HostKeyError,
    KeyFileError,
)

from . import _glue

if TYPE_CHECKING:
    from jobgraph_ssh._formatters import Formatter
    from jobgraph_ssh._node import SshNode

__all__ = ["Link", "RawOutcome", "close_link", "execute", "link_for"]

PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com")
STDERR_TAIL_LINES = 10
STDERR_TAIL_WIDTH = 1000  # characters (the end) of each of those lines
# the remote shell first tells its pid (= its process group: sshd starts each session
# in a new session) on stderr, so that a cancelled command can be killed, pipelines too
PID_MARKER = "\x1fjobgraph-pid:"
PID_PREFIX = "printf '\\037jobgraph-pid:%d\\n' $$ >&2; "
# a command's variables come on stdin, as shell text the remote shell evaluates, never on
# its command line (which every user of the host reads with ps)
ENV_PREFIX = 'eval "$(cat)"; '
KILL_GRACE = 2.0  # seconds a stopped command gets between SIGTERM and SIGKILL
KILL_POLL = 0.1  # how often the remote killer looks whether the group is gone


def kill_line(pid: int, grace: float) -> str:
    """The remote shell line that stops process group ``pid``: SIGTERM now, SIGKILL
    after ``grace`` seconds if a process of the group is still there.

    The wait runs in a detached background subshell (its output on /dev/null), so
    the channel that sends it closes at once and the wait survives the connection's
    end; it ends as soon as the group is gone.

    Raises:
        ValueError: ``pid`` is not a process group one may kill (1 or less would
            make ``kill -- -1``: every process of the user).
    """
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 1:
        raise ValueError(f"refusing to kill process group {pid!r}")
    ticks = max(0, math.ceil(grace / KILL_POLL))
    group = f"-- -{pid}"  # "kill -s SIG --": dash refuses "kill -TERM -- -PGID"
    return (
        f"kill -s TERM {group} 2>/dev/null || exit 0; "
        f"( i=0; while kill -s 0 {group} 2>/dev/null; do "
        f"if [ $i -ge {ticks} ]; then kill -s KILL {group} 2>/dev/null; exit 0; fi; "
        f"sleep {KILL_POLL:g}; i=$((i+1)); done ) </dev/null >/dev/null 2>&1 &"
    )


_handshake_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)
_in_flight = 0  # handshakes in flight in this process (all loops), for tests
_in_flight_max = 0


def handshake_counts() -> tuple[int, int]:
    """(handshakes in flight now, maximum seen) in this process."""
    return _in_flight, _in_flight_max


def _handshake_gate() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    gate = _handshake_gates.get(loop)
    if gate is None:
        gate = _handshake_gates[loop] = asyncio.Semaphore(_limits.current().handshakes)
    return gate


def _encryption_algs() -> list[str]:
    defaults = [alg.decode() for alg in asyncssh.encryption.get_default_encryption_algs()]
    first = [alg for alg in PREFERRED_CIPHERS if alg in defaults]
    return first + [alg for alg in defaults if alg not in first]


_known_hosts_lock = threading.Lock()
_key_cache: dict[tuple[str, str | None, int, int], asyncssh.SSHKey] = {}
_known_hosts_cache: dict[Path, tuple[tuple[int, int], asyncssh.SSHKnownHosts]] = {}


def _read_known_hosts(path: Path) -> asyncssh.SSHKnownHosts:
    """The parsed known_hosts file, cached until it changes (500 nodes, one parse)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return asyncssh.import_known_hosts("")
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _known_hosts_cache.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    known = asyncssh.import_known_hosts(path.read_text())
    _known_hosts_cache[path] = (stamp, known)
    return known


class _Client(asyncssh.SSHClient):
    """Remembers the host key offered, and records it under ``accept-new``."""

    def __init__(self, node: SshNode, known: asyncssh.SSHKnownHosts | None) -> None:
        self.node = node
        self.known = known
        self.offered: asyncssh.SSHKey | None = None
        self.changed = False

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        self.offered = key
        listed = self.known.match(host, addr, port)[0] if self.known is not None else []
        self.changed = bool(listed)
        if self.changed or self.node.host_key_policy != "accept-new":
            return False
        path = self.node.known_hosts_path
        name = host if port == 22 else f"[{host}]:{port}"
        line = f"{name} {key.export_public_key('openssh').decode().strip()}\n"
        with _known_hosts_lock:
            # as OpenSSH: a new ~/.ssh is 0700, a new known_hosts 0600
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "a") as file:
                file.write(line)
        return True


class Link:
    """A node's connection on one asyncio loop: opened once, lazily, then shared."""

    def __init__(self, node: SshNode) -> None:
        self.node = node
        self.lock = asyncio.Lock()
        self.conn: asyncssh.SSHClientConnection | None = None
        self.channels = asyncio.Semaphore(_limits.limits_of(node).channels)
        self.handshakes = 0  # how many handshakes this link made (for tests)
        self.cleanups: set[asyncio.Task[None]] = set()

    def alive(self) -> bool:
        return self.conn is not None and not self.conn.is_closed()

    async def connection(self) -> asyncssh.SSHClientConnection:
        """The open connection, opened if needed (one handshake for many callers)."""
        if self.conn is not None and not self.conn.is_closed():
            return self.conn
        async with self.lock:
            if self.conn is not None and not self.conn.is_closed():
                return self.conn
            await _install_loop_guard()
            tunnel = None
            if self.node.gateway is not None:
                tunnel = await link_for(self.node.gateway).connection()
            self.conn = await self._connect(tunnel)
            return self.conn

    async def _connect(
        self, tunnel: asyncssh.SSHClientConnection | None
    ) -> asyncssh.SSHClientConnection:
        global _in_flight, _in_flight_max
        node = self.node
        options: dict[str, Any] = {
            "port": node.port,
            "tunnel": tunnel,
            "connect_timeout": node.connect_timeout,
            "encryption_algs": _encryption_algs(),
            "keepalive_interval": node.keepalive_interval,
        }
        if node.username is not None:
            options["username"] = node.username
        if node.keys is not None:
            options["client_keys"] = [
                await self._load_key(key) if isinstance(key, str) else key for key in node.keys
            ]
            options["agent_path"] = None
        known: asyncssh.SSHKnownHosts | None = None
        if node.host_key_policy == "ignore":
            options["known_hosts"] = None
        else:
            path = node.known_hosts_path
            try:
                known = _read_known_hosts(path)
            except (OSError, ValueError) as exc:
                raise ConnectError(node.name, f"cannot read known_hosts {path}: {exc}") from exc
            options["known_hosts"] = known
        client = _Client(node, known)
        via = f" (via gateway {node.gateway.name})" if node.gateway is not None else ""
        async with _handshake_gate():
            _in_flight += 1
            _in_flight_max = max(_in_flight_max, _in_flight)
            self._event(f"connecting{via}")
            try:
                self.handshakes += 1
                conn, _ = await self._connect_and_report(client, options)
            except asyncssh.HostKeyNotVerifiable as exc:
                raise self._host_key_error(client, via) from exc
            except asyncssh.PermissionDenied as exc:
                raise AuthError(
                    node.name, f"authentication refused{via}: {exc.reason or exc}"
                ) from exc
            except TimeoutError as exc:
                after = "" if node.connect_timeout is None else f" after {node.connect_timeout:g} s"
                raise ConnectError(node.name, f"connection timed out{after}{via}") from exc
            except (OSError, asyncssh.Error) as exc:
                reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
                raise ConnectError(node.name, f"cannot connect{via}: {reason}") from exc
            finally:
                _in_flight -= 1
        self._event("authenticated")
        return conn

    async def _connect_and_report(
        self, client: _Client, options: dict[str, Any]
    ) -> tuple[asyncssh.SSHClientConnection, asyncssh.SSHClient]:
        try:
            return await asyncssh.create_connection(lambda: client, self.node.hostname, **options)
        except (OSError, asyncssh.Error) as exc:
            self._event(f"connection failed: {type(exc).__name__}")
            raise

    def _event(self, message: str) -> None:
        with contextlib.suppress(Exception):  # a formatter must not break connections
            self.node.formatter.event(self.node.label, message)

    async def _load_key(self, path: str) -> asyncssh.SSHKey:
        """The key in ``path``, read once per file version and passphrase (decrypting
        a key is slow: it runs in a worker thread, not in the event loop)."""
        passphrase = self.node.passphrase
        try:
            stat = os.stat(path)
            stamp = (path, passphrase, stat.st_mtime_ns, stat.st_size)
            key = _key_cache.get(stamp)
            if key is None:
                key = await asyncio.to_thread(asyncssh.read_private_key, path, passphrase)
                _key_cache[stamp] = key
        except asyncssh.KeyImportError as exc:
            hint = (
                " (it is encrypted: give passphrase=)"
                if "assphrase" in str(exc) and self.node.passphrase is None
                else ""
            )
            raise KeyFileError(
                self.node.name, f"cannot use key file {path}: {exc}{hint}", path=path
            ) from exc
        except OSError as exc:
            raise KeyFileError(
                self.node.name, f"cannot read key file {path}: {exc.strerror or exc}", path=path
            ) from exc
        return key

    def _host_key_error(self, client: _Client, via: str) -> HostKeyError:
        node = self.node
        key = client.offered
        fingerprint = key.get_fingerprint("sha256") if key is not None else "(no key seen)"
        where = node.known_hosts_path
        if client.changed:
            what = f"host key CHANGED: the host offers {fingerprint}, {where} lists another key"
        else:
            what = f"host key {fingerprint} is unknown: not in {where}"
            if node.host_key_policy == "strict":
                what += " (host_key_policy='accept-new' records new keys)"
        return HostKeyError(node.name, what + via, fingerprint=fingerprint, changed=client.changed)

    def kill_group(self, pid: int) -> None:
        """Stop a remote process group through another channel, in the background:
        see :meth:`kill_group_now`."""
        self.clean_up(self.kill_group_now(pid))

    async def kill_group_now(self, pid: int) -> None:
        """Stop a remote process group through another channel: SIGTERM, then SIGKILL
        after the node's ``kill_grace`` (the shell line of ``kill_line``); errors are ignored,
        and it takes at most ``SETTLE_TIMEOUT``.

        OpenSSH's sshd ignores signal requests on root sessions (no privilege
        separation there) and leaves the command running when its channel closes;
        a remote ``kill`` of the session's process group always works. A pid of 1
        or less is ignored (never ``kill -- -1``).
        """
        conn = self.conn
        if conn is None or conn.is_closed() or pid <= 1:
            return
        line = kill_line(pid, self.node.kill_grace)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_glue.SETTLE_TIMEOUT), self.channels:
                await conn.run(line, stdin=asyncssh.DEVNULL)

    def clean_up(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background; :meth:`close` waits for it (bounded)."""
        task = asyncio.get_running_loop().create_task(work)
        self.cleanups.add(task)
        task.add_done_callback(self.cleanups.discard)

    async def close(self) -> None:
        deadline = asyncio.get_running_loop().time() + 2 * _glue.SETTLE_TIMEOUT
        while self.cleanups:  # remote kills under way finish first (bounded)
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            await asyncio.wait(list(self.cleanups), timeout=left)
        conn, self.conn = self.conn, None
        if conn is not None:
            self._event("disconnected")
            conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), timeout=_glue.SETTLE_TIMEOUT)


# every link, per loop, to close them all when the background loop stops
_links: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.WeakSet[Link]] = (
    weakref.WeakKeyDictionary()
)


def link_for(node: SshNode) -> Link:
    """The node's link on the running loop, made on first use."""
    loop = asyncio.get_running_loop()
    link = node._links.get(loop)
    if link is None:
        link = node._links[loop] = Link(node)
        _links.setdefault(loop, weakref.WeakSet()).add(link)
    return link


async def close_link(node: SshNode) -> None:
    """Close the node's connection on the running loop, if open."""
    link = node._links.get(asyncio.get_running_loop())
    if link is not None:
        await link.close()


async def close_links(*nodes: SshNode) -> None:
    """Close the connections of ``nodes`` on the running loop, together."""
    links = [link for link in map(node_link, nodes) if link is not None]
    if links:
        await asyncio.gather(*(link.close() for link in links))


def node_link(node: SshNode) -> Link | None:
    """The node's link on the running loop, if it has one."""
    return node._links.get(asyncio.get_running_loop())


def open_connections() -> int:
    """How many connections are open on the running loop (for tests)."""
    links = _links.get(asyncio.get_running_loop(), ())
    return sum(1 for link in links if link.alive())


async def _close_every_link() -> None:
    links = list(_links.get(asyncio.get_running_loop(), ()))
    links.sort(key=lambda link: -link.node.depth)
    for link in links:
        await link.close()


atexit.register(_glue.stop_background_loop, _close_every_link)

_guards: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = (
    weakref.WeakKeyDictionary()
)


async def _close_at_loop_end() -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await _close_every_link()


async def _install_loop_guard() -> None:
    """Make sure the running loop closes its connections when it ends.

    asyncio finalizes the async generators it knows when it shuts down (``asyncio.run``
    and anyio's runner call ``shutdown_asyncgens``): a generator suspended here is
    closed then, and its ``finally`` closes the loop's connections. So a synchronous
    ``jobgraph.run(..., backend="asyncio")`` leaves no connection behind, and does not
    wait for one either.
    """
    loop = asyncio.get_running_loop()
    if loop not in _guards:
        guard = _guards[loop] = _close_at_loop_end()
        await guard.asend(None)


@dataclass(frozen=True)
class RawOutcome:
    """What a remote (or local) process did, before it becomes a CommandResult."""

    exit_status: int | None
    signal: str | None
    stdout: str | None
    stderr: str | None
    stderr_tail: tuple[str, ...]
    started_at: float
    ended_at: float
    stdout_truncated: bool = False
    stderr_truncated: bool = False


class Tail:
    """The last lines of a stream of text that fit in ``limit`` characters (None: all
    of it; 0: none), and how many characters were cut from the start. Lines are dropped
    whole from the start, so every line kept is whole, but for one case: when even the
    last line is longer than the limit, its end is kept. Adding is O(length added),
    whatever the limit."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.parts: collections.deque[str] = collections.deque()
        self.size = 0
        self.cut = 0  # characters dropped from the start

    def add(self, text: str) -> None:
        if self.limit == 0:
            self.cut += len(text)
            return
        self.parts.append(text)
        self.size += len(text)
        if self.limit is None:
            return
        while self.size > self.limit and len(self.parts) > 1:
            dropped = len(self.parts.popleft())
            self.size -= dropped
            self.cut += dropped
        if self.size > self.limit:  # one line, longer than the limit: its end
            excess = self.size - self.limit
            self.parts[0] = self.parts[0][excess:]
            self.size -= excess
            self.cut += excess

    def text(self) -> str:
        return "".join(self.parts)


def parse_pid(line: str) -> int | None:
    """The pid a remote shell reported in ``line`` (see ``PID_PREFIX``), if it is one
    that may be killed (never 0 or 1: ``kill -- -1`` kills every process)."""
    text = line.rstrip("\n")
    if not text.startswith(PID_MARKER) or not text[len(PID_MARKER) :].isdigit():
        return None
    pid = int(text[len(PID_MARKER) :])
    return pid if pid > 1 else None


class OutputCollector:
    """Sends lines to the formatter as they come; keeps only what was asked: ``keep``
    characters (the end) of stdout, and as many of stderr."""

    def __init__(self, host: str, formatter: Formatter, keep: int | None) -> None:
        self.host = host
        self.formatter = formatter
        self.keep = keep  # None: everything; 0: nothing; n: the last n characters
        self.stdout = Tail(keep)
        self.stderr = Tail(keep)
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self.watch_pid = False  # the first stderr line may carry the remote pid
        self.remote_pid: int | None = None

    def out(self, line: str) -> None:
        self.formatter.line(self.host, "stdout", line.rstrip("\n"))
        self.stdout.add(line)

    def err(self, line: str) -> None:
        text = line.rstrip("\n")
        if self.watch_pid and self.remote_pid is None:
            self.watch_pid = False
            if text.startswith(PID_MARKER):
                self.remote_pid = parse_pid(text)
                return
        self.formatter.line(self.host, "stderr", text)
        self.stderr_tail.append(text[-STDERR_TAIL_WIDTH:])
        self.stderr.add(line)

    def outcome(self, exit_status: int | None, signal: str | None, started: float) -> RawOutcome:
        keep = self.keep != 0
        return RawOutcome(
            exit_status=exit_status,
            signal=signal,
            stdout=self.stdout.text() if keep else None,
            stderr=self.stderr.text() if keep else None,
            stderr_tail=tuple(self.stderr_tail),
            started_at=started,
            ended_at=time.time(),
            stdout_truncated=keep and self.stdout.cut > 0,
            stderr_truncated=keep and self.stderr.cut > 0,
        )


async def execute(
    node: SshNode,
    line: str,
    env: Mapping[str, str] | None,
    time_limit: float | None,
    collector: OutputCollector,
    *,
    x11: bool = False,
) -> RawOutcome:
    """Run ``line`` on the node's shared connection, streaming its output.

    With ``x11``, X11 forwarding to the local display is asked for (a server that
    refuses it does not fail the command).

    The channel is taken under the connection's channel limit. On timeout or
    cancellation the remote command gets SIGTERM and its channel is closed at once
    (no waiting), so the channel slot is free when this returns; with the node's
    ``kill_group``, its process group also gets SIGTERM, then SIGKILL after
    ``kill_grace`` seconds (see :meth:`Link.kill_group`).
    """
    link = link_for(node)
    conn = await link.connection()
    async with link.channels:
        started = time.time()  # once it has a channel: waiting for one is not running
        try:
            sent = ENV_PREFIX + line if env else line
            if node.kill_group:
                collector.watch_pid = True
                sent = PID_PREFIX + sent
            process = await conn.create_process(
                sent,
                stdin=asyncssh.PIPE if env else asyncssh.DEVNULL,
                errors="replace",
                x11_forwarding="ignore_failure" if x11 else False,
            )
            if env:  # then end of file: the command reads no more from stdin than before
                process.stdin.write(env_script(env))
                process.stdin.write_eof()
        except asyncssh.ChannelOpenError as exc:
            if conn.is_closed():
                raise ConnectionLostError(node.name, f"connection lost: {exc.reason}") from exc
            raise ConnectError(node.name, f"cannot open a channel: {exc.reason}") from exc
        try:
            async with asyncio.timeout(time_limit):
                await asyncio.gather(
                    _pump(process.stdout, collector.out), _pump(process.stderr, collector.err)
                )
                await process.wait_closed()
        except TimeoutError as exc:
            _stop(process, link, collector)
            raise CommandTimeoutError(node.name, line, time_limit or 0.0) from exc
        except asyncssh.Error as exc:
            _stop(process, link, collector)
            raise ConnectionLostError(
                node.name, f"connection lost while running {line!r}: {exc}"
            ) from exc
        except BaseException:
            _stop(process, link, collector)
            raise
    signal = process.exit_signal[0] if process.exit_signal else None
    status = process.exit_status
    if status is not None and status < 0:
        status = None  # asyncssh says -1 when the command ended on a signal
    if status is None and signal is None:
        raise ConnectionLostError(node.name, f"connection lost while running {line!r}")
    return collector.outcome(status, signal, started)


def env_script(env: Mapping[str, str]) -> str:
    """``export NAME=value`` lines for each variable, which the remote shell reads on
    the command's stdin and evaluates (see :data:`ENV_PREFIX`).

    Variables go through the remote shell rather than SSH ``env`` requests, which
    OpenSSH's sshd drops unless its ``AcceptEnv`` lists them; and through stdin rather
    than the command line, which other users of the host can read.
    """
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())


async def _pump(reader: asyncssh.SSHReader[str], sink: Callable[[str], None]) -> None:
    async for line in reader:
        if line:  # asyncssh yields "" once at end of file
            sink(line)


def _stop(process: asyncssh.SSHClientProcess[Any], link: Link, collector: OutputCollector) -> None:
    """Signal the remote command and close its channel, without waiting; if its
    process group is known, kill it through another channel (in the background).

    A command stopped so early that its pid line is not read yet keeps its channel
    until that line comes (in the background, at most ``SETTLE_TIMEOUT``), so that
    its group is killed all the same.
    """
    with contextlib.suppress(Exception):
        process.send_signal("TERM")
    if collector.watch_pid and collector.remote_pid is None:
        collector.watch_pid = False
        link.clean_up(_kill_when_known(process, link))
        return
    with contextlib.suppress(Exception):
        process.close()
    if collector.remote_pid is not None:
        link.kill_group(collector.remote_pid)


async def _kill_when_known(process: asyncssh.SSHClientProcess[Any], link: Link) -> None:
    """Read the remote shell's first stderr line (its pid), then close the channel and
    kill the group."""
    pid = None
    try:
        async with asyncio.timeout(_glue.SETTLE_TIMEOUT):
            pid = parse_pid(await process.stderr.readline())
    except Exception:  # noqa: BLE001, S110 - the channel is closed below all the same
        pass
    finally:
        with contextlib.suppress(Exception):
            process.close()
    if pid is not None:
        await link.kill_group_now(pid)


def default_known_hosts() -> Path:
    return Path(os.path.expanduser("~/.ssh/known_hosts"))


def reset_handshake_gates() -> None:
    """Forget the per-loop handshake semaphores (new ones use the new limit)."""
    _handshake_gates.clear()


# -- files over SFTP ---------------------------------------------------------------------


class TransferFailed(Exception):  # noqa: N818 - internal, becomes a failed CommandResult
    """A file transfer failed; the message says what and why."""


async def sftp_call(node: SshNode, what: str, action: Callable[[Any], Any]) -> None:
    """Run ``action(sftp)`` on an SFTP session of the node's shared connection.

    Call it on asyncssh's loop (through :func:`jobgraph_ssh.lowlevel.call`); it takes
    one of the connection's channel slots while it runs.

    Args:
        node: the node whose connection to use (opened if needed).
        what: what is done, for the error message, like ``"push a to b"``.
        action: an async function of an ``asyncssh.SFTPClient``.

    Raises:
        TransferFailed: the SFTP server or the local disk refused (the message says
            ``what`` and why).
        jobgraph_ssh.ConnectionLostError: the connection closed meanwhile.
    """
    link = link_for(node)
    conn = await link.connection()
    async with link.channels:
        try:
            try:
                async with conn.start_sftp_client() as sftp:
                    await action(sftp)
            except BaseException:
                quiet_sftp_stragglers()
                raise
        except asyncssh.SFTPError as exc:
            raise TransferFailed(f"{what}: {exc.reason}") from exc
        except OSError as exc:
            raise TransferFailed(f"{what}: {exc.strerror or exc}") from exc
        except asyncssh.Error as exc:
            if conn.is_closed():
                raise ConnectionLostError(node.name, f"connection lost during {what}") from exc
            raise TransferFailed(f"{what}: {exc}") from exc


def quiet_sftp_stragglers() -> None:
    """Mark as seen the errors of asyncssh's parallel-transfer tasks left behind by a
    transfer cut short (a timeout, a cancellation, a closed session).

    asyncssh reads and writes a file in parallel requests, each in a task of its own;
    when the transfer is stopped, the tasks still in flight end with
    ``SFTPConnectionLost`` that nobody awaits, and asyncio prints each one as "Task
    exception was never retrieved", with a traceback, on the user's stderr: noise about
    a transfer whose outcome is already reported. Only those tasks are touched.
    """
    for task in asyncio.all_tasks():
        if getattr(task.get_coro(), "__qualname__", "").startswith("_SFTPParallelIO."):
            task.add_done_callback(_seen)


def _seen(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: asyncio does not print it


async def sftp_put(node: SshNode, local_paths: list[str], remote_dir: str, preserve: bool) -> None:
    """Copy local files and directories (recursively) into a remote directory."""

    async def action(sftp: asyncssh.SFTPClient) -> None:
        await sftp.makedirs(remote_dir, exist_ok=True)
        await sftp.put(local_paths, remote_dir, preserve=preserve, recurse=True)

    await sftp_call(node, f"push {', '.join(local_paths)} to {remote_dir}", action)


async def sftp_get(node: SshNode, remote_paths: list[str], local_dir: str, preserve: bool) -> None:
    """Copy remote files and directories (recursively) into a local directory.

    The copy is ours, not asyncssh's recursive ``get``, so that nothing the server
    says can write outside ``local_dir`` (see :class:`_Pull`).
    """

    async def action(sftp: asyncssh.SFTPClient) -> None:
        await _Pull(sftp, local_dir, preserve).run(remote_paths)

    await sftp_call(node, f"pull {', '.join(remote_paths)} to {local_dir}", action)


PULL_CHUNK = 1 << 20  # bytes read at once (asyncssh splits it into parallel requests)


class _Pull:
    """A recursive SFTP download that trusts nothing the server says.

    - Names listed by the server must be plain names (no ``/``, not ``.`` or ``..``,
      no NUL); anything else fails the pull.
    - A symlink is recreated only if its target is relative and stays inside the
      pull folder (checked on the text when it is made, and again on the real paths
      once every link exists, for chains of links); otherwise the pull fails and the
      links it made that lead out are removed.
    - Nothing is written through a symlink: existing directories must be real ones,
      files are opened with ``O_NOFOLLOW`` (an existing link at a file's place is
      replaced).
    - Modes are masked to 0o777 (no setuid, setgid or sticky bit, as ``sftp -p``);
      files are written 0600 and get their mode once complete; directories are made
      0700 and get the remote mode (``preserve``) when their content is in.
    """

    def __init__(self, sftp: asyncssh.SFTPClient, local_dir: str, preserve: bool) -> None:
        self.sftp = sftp
        self.local_dir = local_dir
        self.root = os.path.realpath(local_dir)
        self.preserve = preserve
        self.links: list[str] = []

    async def run(self, remote_paths: list[str]) -> None:
        self._check_directory(self.root, self.local_dir)
        try:
            for remote in remote_paths:
                attrs = await self.sftp.stat(remote)  # the paths asked for: followed
                name = posixpath.basename(remote.rstrip("/"))
                if name in ("", "."):
                    target = self.root
                else:
                    target = os.path.join(self.root, self._checked_name(name, remote))
                await self._copy(remote, attrs, target)
        finally:
            self._check_links()

    def _inside(self, path: str) -> bool:
        return path == self.root or path.startswith(self.root + os.sep)

    def _checked_name(self, name: str, where: str) -> str:
        if name in ("", ".", "..") or "/" in name or "\0" in name:
            raise TransferFailed(f"refusing the name {name!r} listed in {where}")
        return name

    def _check_directory(self, path: str, shown: str) -> None:
        if os.path.islink(path) or not os.path.isdir(path):
            raise TransferFailed(f"refusing to write into {shown}: not a directory")

    def _mode(self, attrs: asyncssh.SFTPAttrs) -> int | None:
        if not self.preserve or attrs.permissions is None:
            return None
        return stat.S_IMODE(attrs.permissions) & 0o777

    def _times(self, path: str | int, attrs: asyncssh.SFTPAttrs) -> None:
        if self.preserve and attrs.atime is not None and attrs.mtime is not None:
            os.utime(path, (attrs.atime, attrs.mtime))

    async def _copy(self, remote: str, attrs: asyncssh.SFTPAttrs, local: str) -> None:
        self._check_place(local)
        if attrs.type == asyncssh.FILEXFER_TYPE_DIRECTORY:
            await self._copy_directory(remote, attrs, local)
        elif attrs.type == asyncssh.FILEXFER_TYPE_SYMLINK:
            self._make_link(remote, await self.sftp.readlink(remote), local)
        elif attrs.type == asyncssh.FILEXFER_TYPE_REGULAR:
            await self._copy_file(remote, attrs, local)
        else:
            raise TransferFailed(f"refusing {remote}: not a file, directory or symlink")

    def _check_place(self, local: str) -> None:
        if not self._inside(os.path.normpath(local)):
            raise TransferFailed(f"refusing to write {local}: outside {self.local_dir}")

    async def _copy_directory(self, remote: str, attrs: asyncssh.SFTPAttrs, local: str) -> None:
        self._make_directory(local)
        async for entry in self.sftp.scandir(remote):
            name = entry.filename
            assert isinstance(name, str)
            if name in (".", ".."):
                continue
            self._checked_name(name, remote)
            await self._copy(posixpath.join(remote, name), entry.attrs, os.path.join(local, name))
        self._finish_directory(local, attrs)

    def _make_directory(self, local: str) -> None:
        if os.path.lexists(local):
            self._check_directory(local, local)
        else:
            os.mkdir(local, 0o700)

    def _finish_directory(self, local: str, attrs: asyncssh.SFTPAttrs) -> None:
        mode = self._mode(attrs)
        if mode is not None:
            os.chmod(local, mode)
        self._times(local, attrs)

    def _make_link(self, remote: str, target: str, local: str) -> None:
        resolved = os.path.normpath(os.path.join(os.path.dirname(local), target))
        if os.path.isabs(target) or not self._inside(resolved):
            raise TransferFailed(
                f"refusing the symlink {remote} -> {target}: it points outside {self.local_dir}"
            )
        if os.path.lexists(local) and not os.path.isdir(local):
            os.unlink(local)
        os.symlink(target, local)
        self.links.append(local)

    async def _copy_file(self, remote: str, attrs: asyncssh.SFTPAttrs, local: str) -> None:
        fd = self._open_file(local)
        try:
            async with self.sftp.open(remote, "rb") as source:
                while data := await source.read(PULL_CHUNK):
                    view = memoryview(cast(bytes, data))  # opened "rb": bytes
                    while view:
                        view = view[os.write(fd, view) :]
            self._finish_file(fd, attrs)
        finally:
            os.close(fd)

    def _open_file(self, local: str) -> int:
        if os.path.islink(local):
            os.unlink(local)  # never write through a link
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        return os.open(local, flags, 0o600 if self.preserve else 0o666)

    def _finish_file(self, fd: int, attrs: asyncssh.SFTPAttrs) -> None:
        mode = self._mode(attrs)
        os.fchmod(fd, mode if mode is not None else stat.S_IMODE(os.fstat(fd).st_mode) & 0o777)
        if os.utime in os.supports_fd:
            self._times(fd, attrs)

    def _check_links(self) -> None:
        """Once every link exists: each must really lead inside (a chain of links
        each fine by itself may lead out); the ones that do not are removed."""
        outside = [link for link in self.links if not self._inside(os.path.realpath(link))]
        for link in outside:
            with contextlib.suppress(OSError):
                os.unlink(link)
        if outside:
            raise TransferFailed(
                f"refusing the symlinks {', '.join(outside)}: they lead outside "
                f"{self.local_dir} (removed)"
            )


async def sftp_stage(
    node: SshNode, remote_dir: str, files: list[str], contents: dict[str, bytes], executable: str
) -> None:
    """Make ``remote_dir`` (0700), copy ``files`` and write ``contents`` into it (0600,
    0700 for ``executable``, asked for when each is made: never readable by others)."""

    async def action(sftp: asyncssh.SFTPClient) -> None:
        await sftp.makedirs(remote_dir, attrs=asyncssh.SFTPAttrs(permissions=0o700), exist_ok=True)
        if files:
            await sftp.put(files, remote_dir, preserve=True, recurse=True)
        for name, data in contents.items():
            mode = 0o700 if name == executable else 0o600
            attrs = asyncssh.SFTPAttrs(permissions=mode)
            async with sftp.open(f"{remote_dir}/{name}", "xb", attrs) as file:
                await file.write(data)
        await sftp.chmod(f"{remote_dir}/{executable}", 0o700)

    await sftp_call(node, f"copy script to {remote_dir}", action)


async def sftp_remove_tree(node: SshNode, remote_dir: str) -> None:
    """Remove a remote directory and what it holds (errors ignored)."""

    async def action(sftp: asyncssh.SFTPClient) -> None:
        await sftp.rmtree(remote_dir, ignore_errors=True)

    with contextlib.suppress(TransferFailed, ConnectionLostError):
        await sftp_call(node, f"remove {remote_dir}", action)
