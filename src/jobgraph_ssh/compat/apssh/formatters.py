"""apssh-style formatters, and the bridge that lets the native layer feed them.

An apssh formatter is called with ``line(text_with_newline, datatype, hostname)``
(``datatype`` is asyncssh's ``EXTENDED_DATA_STDERR`` for stderr, None for stdout) and
with connection events (``connection_made``, ``auth_completed``...). The native layer
calls ``line(host, stream, text)`` and ``event(host, message)`` instead: each compat
node wraps its formatter in a ``_Bridge`` that translates.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobgraph_ssh import Stream

__all__ = [
    "EXTENDED_DATA_STDERR",
    "CaptureFormatter",
    "ColonFormatter",
    "Formatter",
    "HostFormatter",
    "RawFormatter",
    "SubdirFormatter",
    "TerminalFormatter",
    "TimeColonFormatter",
    "TimeHostFormatter",
]

EXTENDED_DATA_STDERR = 1  # asyncssh's value, kept here so formatters need no asyncssh

_lock = threading.Lock()


def _short(hostname: str) -> str:
    """The first label of a host name; an IP address is kept whole."""
    first = hostname.split(".", maxsplit=1)[0]
    return hostname if not first or first.isdigit() else first


class Formatter:
    """The base of apssh formatters: renders lines with a format and ignores events.

    The format may hold ``@line@`` (the line, without its newline), ``@host@`` (the
    host name), ``@fqdn@``, ``@user@`` (``user@`` when known), ``@time@`` (a shortcut
    for ``%H-%M-%S``), and any ``strftime`` directive (time of local reception). The
    apssh 0.27 spellings ``{line}``, ``{host}``, ``{fqdn}``, ``{user}``, ``{time}``,
    ``{linenl}`` and ``{nl}`` work too.
    """

    # apssh 0.27 fills ``{user}`` only in the lines of events that name the user
    # (connection made, authenticated, closed); False keeps that
    _user_on_every_line = True

    def __init__(self, custom_format: str) -> None:
        self.format = custom_format.replace("@time@", "%H-%M-%S").replace("{time}", "%H-%M-%S")
        self._users: dict[str, str] = {}
        # the widest host, fqdn and user of the nodes using this formatter: as in
        # apssh, fields are centred to these widths so that lines align
        self.max_host = self.max_fqdn = self.max_user = 0

    def adapt_to_proxy(self, proxy: Any) -> None:
        """Widen the ``host``, ``fqdn`` and ``user`` fields to fit ``proxy``'s names (apssh
        calls this for each remote node using the formatter)."""
        fqdn = str(proxy.hostname)
        self.max_fqdn = max(self.max_fqdn, len(fqdn))
        self.max_host = max(self.max_host, len(_short(fqdn)))
        self.max_user = max(self.max_user, len(str(getattr(proxy, "username", None) or "")))

    # -- rendering -----------------------------------------------------------------------
    def _formatted_line(
        self, linenl: str, hostname: str | None = None, username: str | None = None
    ) -> str:
        line = linenl[:-1] if linenl.endswith("\n") else linenl
        fqdn = hostname or ""
        if username is None and hostname is not None and self._user_on_every_line:
            username = self._users.get(hostname)
        user = f"{username}@" if username else ""
        text = time.strftime(self.format)
        for key, value in (
            ("host", f"{_short(fqdn):^{self.max_host}}"),
            ("fqdn", f"{fqdn:^{self.max_fqdn}}"),
            ("user", f"{user:^{self.max_user + 1}}" if user else ""),
            ("nl", "\n"),
        ):
            text = text.replace(f"@{key}@", value).replace(f"{{{key}}}", value)
        # the line last, so that its own text is never expanded
        return text.replace("{linenl}", linenl).replace("@line@", line).replace("{line}", line)

    def _remember_user(self, hostname: str, username: str | None) -> None:
        if username:
            self._users[hostname] = username

    # -- events (apssh names); the base class ignores them ------------------------------
    def connection_made(self, hostname: str, username: str | None, direct: bool) -> None:
        """The connection to ``hostname`` is up (``direct``: no gateway)."""

    def connection_lost(
        self, hostname: str, exc: BaseException | None, username: str | None
    ) -> None:
        """The connection to ``hostname`` was closed (``exc``: why, if it failed)."""

    def auth_completed(self, hostname: str, username: str | None) -> None:
        """Authentication on ``hostname`` succeeded."""

    def session_start(self, hostname: str, command: str) -> None:
        """A command starts on ``hostname``."""

    def session_stop(self, hostname: str, command: str) -> None:
        """A command ended on ``hostname``."""

    def sftp_start(self, hostname: str) -> None:
        """An SFTP session starts on ``hostname``."""

    def sftp_stop(self, hostname: str) -> None:
        """An SFTP session ended on ``hostname``."""

    # -- output ----------------------------------------------------------------------
    def line(self, line: str, datatype: int | None, hostname: str) -> None:
        """One line of output (with its newline); ``datatype`` tells stderr apart."""

    def stderr_line(self, line: str, hostname: str) -> None:
        """A line of our own about ``hostname`` (an error), on stderr."""
        _print(self._formatted_line(line, hostname), sys.stderr)


def _print(text: str, stream: IO[str]) -> None:
    if not text.endswith("\n"):
        text += "\n"
    with _lock:
        stream.write(text)
        stream.flush()


_SEP = "=" * 10  # apssh's mark of connection events


class _Verbose(Formatter):
    """Shows connection events on stderr when ``verbose`` is set, worded as apssh 0.27
    words them (``========== Connecting (direct) to user@host``...)."""

    def __init__(self, custom_format: str, verbose: bool) -> None:
        super().__init__(custom_format)
        self.verbose = verbose

    def _event_line(self, hostname: str, text: str, username: str | None = None) -> None:
        if self.verbose:
            _print(self._formatted_line(f"{_SEP} {text}", hostname, username), sys.stderr)

    def connection_made(self, hostname: str, username: str | None, direct: bool) -> None:
        self._remember_user(hostname, username)
        how = "direct" if direct else "tunnelled"
        self._event_line(hostname, f"Connecting ({how}) to {username}@{hostname}", username)

    def connection_lost(
        self, hostname: str, exc: BaseException | None, username: str | None
    ) -> None:
        if exc is not None:  # always told, verbose or not
            reason = getattr(exc, "reason", None) or exc
            _print(f"Connection failed to {username}@{hostname} : {reason}", sys.stderr)
        what = "failed" if exc is not None else "closed"
        self._event_line(hostname, f"Connection {what} to {username}@{hostname}", username)

    def auth_completed(self, hostname: str, username: str | None) -> None:
        self._event_line(hostname, f"Authorization OK {username}@{hostname}", username)

    def session_start(self, hostname: str, command: str) -> None:
        self._event_line(hostname, f"Session started for {command}")

    def session_stop(self, hostname: str, command: str) -> None:
        self._event_line(hostname, f"Session ended for {command}")

    def sftp_start(self, hostname: str) -> None:
        self._event_line(hostname, "SFTP subsystem started")

    def sftp_stop(self, hostname: str) -> None:
        self._event_line(hostname, "SFTP subsystem stopped")


class TerminalFormatter(_Verbose):
    """Prints each line as it comes, rendered with ``custom_format``: remote stdout on
    stdout, remote stderr on stderr; with ``verbose``, connection events on stderr."""

    def line(self, line: str, datatype: int | None, hostname: str) -> None:
        stream = sys.stderr if datatype == EXTENDED_DATA_STDERR else sys.stdout
        _print(self._formatted_line(line, hostname), stream)


class RawFormatter(TerminalFormatter):
    """Lines as they are (``@line@``)."""

    def __init__(self, format: str = "@line@", *, verbose: bool = True) -> None:
        super().__init__(format, verbose)


class ColonFormatter(TerminalFormatter):
    """``host:line`` (``@host@:@line@``); the default formatter of nodes."""

    def __init__(self, format: str = "@host@:@line@", *, verbose: bool = True) -> None:
        super().__init__(format, verbose)


class TimeColonFormatter(TerminalFormatter):
    """``HH-MM-SS:host:line`` (``%H-%M-%S:@host@:@line@``)."""

    def __init__(self, format: str = "%H-%M-%S:@host@:@line@", *, verbose: bool = True) -> None:
        super().__init__(format, verbose)


class HostFormatter(ColonFormatter):
    """apssh 0.27's default formatter: ``host:line``, and ``user@host:`` on the lines
    of connection events (``{user}{host}:{linenl}``)."""

    _user_on_every_line = False

    def __init__(self, format: str = "{user}{host}:{linenl}", *, verbose: bool = True) -> None:
        super().__init__(format, verbose=verbose)


class TimeHostFormatter(TimeColonFormatter):
    """apssh 0.27's ``HH-MM-SS:host:line`` (``{time}:{host}:{linenl}``)."""

    _user_on_every_line = False

    def __init__(self, format: str = "{time}:{host}:{linenl}", *, verbose: bool = True) -> None:
        super().__init__(format, verbose=verbose)


class SubdirFormatter(_Verbose):
    """Each host's output in a file ``<run_name>/<hostname>``: stdout and stderr, in
    arrival order, after a first line ``Connected (direct) to user@host`` (with
    ``verbose``). The directory is made if needed; a host's file is started afresh when
    its connection opens. Other events go to stderr (with ``verbose``), as in apssh."""

    def __init__(self, run_name: str, *, verbose: bool = True) -> None:
        super().__init__("@line@", verbose)
        self.run_name = run_name

    def out(self, hostname: str) -> str:
        """The file of ``hostname``."""
        return str(Path(self.run_name) / hostname)

    def _append(self, hostname: str, text: str, mode: str = "a") -> None:
        Path(self.run_name).mkdir(parents=True, exist_ok=True)
        with _lock, open(self.out(hostname), mode) as file:
            file.write(text if text.endswith("\n") else text + "\n")

    def connection_made(self, hostname: str, username: str | None, direct: bool) -> None:
        self._remember_user(hostname, username)
        how = "direct" if direct else "tunnelled"
        text = f"Connected ({how}) to {username or ''}@{hostname}\n" if self.verbose else ""
        Path(self.run_name).mkdir(parents=True, exist_ok=True)
        with _lock, open(self.out(hostname), "w") as file:
            file.write(text)

    def line(self, line: str, datatype: int | None, hostname: str) -> None:
        self._append(hostname, self._formatted_line(line, hostname))


class CaptureFormatter(_Verbose):
    """Keeps the stdout lines (rendered with ``custom_format``) in memory instead of
    printing them: :meth:`start_capture` empties the capture, :meth:`get_capture`
    returns it. As in apssh, stderr lines are printed on stderr (rendered the same
    way), and connection events too when ``verbose``."""

    def __init__(self, custom_format: str = "@line@", verbose: bool = True) -> None:
        super().__init__(custom_format, verbose)
        self._capture: list[str] = []

    def start_capture(self) -> None:
        """Forget what was captured so far."""
        with _lock:
            self._capture = []

    def get_capture(self) -> str:
        """The lines captured since the last :meth:`start_capture`, each with its newline."""
        with _lock:
            return "".join(self._capture)

    def line(self, line: str, datatype: int | None, hostname: str) -> None:
        text = self._formatted_line(line, hostname)
        if datatype == EXTENDED_DATA_STDERR:
            _print(text, sys.stderr)
            return
        with _lock:
            self._capture.append(text if text.endswith("\n") else text + "\n")


class _Bridge:
    """The native formatter of a compat node: hands lines and events to an apssh
    formatter, with the node's host name and user (read when each call comes, so
    that attributes set after the node was made count). Other attributes are the
    apssh formatter's (``node.formatter.get_capture()`` works)."""

    def __init__(self, target: Any, node: Any) -> None:
        self.target = target
        self.node = node

    def _who(self) -> tuple[str, str | None]:
        node = self.node
        hostname = str(node.hostname)
        username = getattr(node, "username", None)
        if isinstance(self.target, Formatter):
            self.target._remember_user(hostname, username)
        return hostname, username

    def line(self, host: str, stream: Stream, text: str) -> None:
        del host
        hostname, _ = self._who()
        datatype = EXTENDED_DATA_STDERR if stream == "stderr" else None
        if getattr(self.node, "debug", False) is True and hasattr(self.node, "debug_line"):
            _print(f"BS {hostname} DR: -> {text}\n [[of type {stream}]]", sys.stderr)
        self.target.line(text + "\n", datatype, hostname)

    def _debug(self, text: str) -> None:
        debug_line = getattr(self.node, "debug_line", None)
        if callable(debug_line):
            debug_line(text)

    def event(self, host: str, message: str) -> None:
        del host
        target = self.target
        name, user = self._who()
        direct = getattr(self.node, "gateway", None) is None
        if message.startswith("connecting"):
            self._debug("SSH direct connecting" if direct else "SSH tunnel connecting")
        elif message == "authenticated":
            target.connection_made(name, user, direct)
            target.auth_completed(name, user)
            if not direct:
                self._debug("SSH tunnel connected")
        elif message == "disconnected":
            had_sftp = self.node.__dict__.pop("_compat_sftp_for", None) is not None
            if not _exiting:  # connections left open are closed quietly at exit
                if had_sftp:
                    target.sftp_stop(name)
                target.connection_lost(name, None, user)
        elif message.startswith("connection failed"):
            # other failures are told by failed_after_connecting(), with their reason
            if message.rpartition(" ")[2] == "ChannelOpenError":  # the gateway failed
                target.stderr_line(f"Cannot open channel to {user}@{name}", name)
        elif message.startswith("session-start "):
            target.session_start(name, message.removeprefix("session-start "))
        elif message.startswith("session-stop "):
            target.session_stop(name, message.removeprefix("session-stop "))
        elif message == "sftp-start":
            target.sftp_start(name)

    def failed_after_connecting(self, exc: BaseException) -> None:
        """Tell the formatter, as apssh's are told, of a connection that failed once
        the TCP connection was made (authentication refused...): it was made, then
        lost because of ``exc``. Failures to reach the host are not told (nor are
        they in apssh)."""
        if type(exc).__name__ in _SOCKET_ERRORS or type(exc).__name__ == "ChannelOpenError":
            return
        name, user = self._who()
        self.target.connection_made(name, user, getattr(self.node, "gateway", None) is None)
        self.target.connection_lost(name, exc, user)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


# failures to open the TCP connection itself: apssh's formatters hear nothing of them
_SOCKET_ERRORS = frozenset(
    {
        "OSError",
        "ConnectionRefusedError",
        "ConnectionResetError",
        "ConnectionAbortedError",
        "TimeoutError",
        "gaierror",
    }
)

# set when the interpreter exits: the connections still open are then closed
# without a word (apssh's are not closed at all, so it says nothing either)
_exiting = False


def _quiet_at_exit() -> None:
    global _exiting
    _exiting = True


# registered after jobgraph_ssh's own atexit handler (imported first), so it runs before
atexit.register(_quiet_at_exit)


class _FormatterSlot:
    """A ``formatter`` attribute for compat nodes: holds the apssh formatter wrapped in
    a ``_Bridge`` (what the native layer calls); setting it wraps the new one."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = "_compat_" + name

    def __get__(self, node: Any, owner: type | None = None) -> Any:
        if node is None:
            return self
        return node.__dict__[self.name]

    def __set__(self, node: Any, value: Any) -> None:
        if value is None:
            value = ColonFormatter()
        if not isinstance(value, _Bridge):
            value = _Bridge(value, node)
        node.__dict__[self.name] = value
        adapt = getattr(value.target, "adapt_to_proxy", None)
        if callable(adapt) and getattr(node, "_compat_remote", False):
            adapt(node)  # as apssh: the formatter learns the widths of its nodes' names
