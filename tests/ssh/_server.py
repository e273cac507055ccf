"""A real SSH server for the tests: asyncssh, loopback only, run in its own process.

Run as ``python _server.py --hosts N --authorized-keys FILE --stats FILE [options]``.
It listens on N loopback ports (each a "host" with its own host key, generated on
the fly), accepts any user name with a key listed in the authorized keys file, and
runs each command as ``/bin/sh -c COMMAND`` in a new process group: stdin, stdout,
stderr, exit status and signals are passed through; SFTP is on; port forwarding is on
with ``--forwarding`` (to act as a gateway); remote forwarding (listeners on the
server, back to the client) with ``--remote-forwarding tcp|unix|both``.

When ready it prints one JSON line on stdout::

    {"ports": [...], "host_keys": ["ssh-ed25519 AAAA...", ...], "pid": 1234}

``--sftp-log FILE`` logs SFTP file opens and directory creations, with the permissions
the client asked for, one JSON line each; ``--hostile-sftp`` makes the server list
made-up names and symlinks in a few directories (see ``HOSTILE``), as a malicious
server would.

Server-side counters (handshakes and exec sessions in flight, their maxima, signals
received...) are kept in the file given by ``--stats``, rewritten on every change.
SIGUSR1 resets the maxima to the current values. SIGTERM stops the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import asyncssh

from jobgraph_ssh._asyncssh._sandbox_server import _Session


class Stats:
    """Counters shared by every port, written as JSON to a file on each change."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.values: dict[str, int] = {
            "connections": 0,  # accepted TCP connections, in total
            "connections_now": 0,
            "handshakes_now": 0,  # between TCP accept and the end of authentication
            "handshakes_max": 0,
            "auth_ok": 0,
            "sessions": 0,  # exec sessions, in total
            "sessions_now": 0,
            "sessions_max": 0,
            "signals": 0,  # signal requests received from clients
            "processes_now": 0,  # local subprocesses alive
        }
        self.write()

    def add(self, name: str, delta: int = 1) -> None:
        self.values[name] += delta
        for gauge in ("handshakes", "sessions"):
            if name == f"{gauge}_now":
                self.values[f"{gauge}_max"] = max(self.values[f"{gauge}_max"], self.values[name])
        self.write()

    def reset_maxima(self) -> None:
        for gauge in ("handshakes", "sessions"):
            self.values[f"{gauge}_max"] = self.values[f"{gauge}_now"]
        self.write()

    def write(self) -> None:
        temporary = self.path + ".tmp"
        with open(temporary, "w") as file:
            json.dump(self.values, file)
        os.replace(temporary, self.path)


class Server(asyncssh.SSHServer):
    """One per connection: counts the handshake, allows forwarding when asked."""

    def __init__(self, stats: Stats, options: argparse.Namespace) -> None:
        self.stats = stats
        self.options = options
        self.in_handshake = False
        self.counted = False

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.counted = True
        self.in_handshake = True
        self.stats.add("connections")
        self.stats.add("connections_now")
        self.stats.add("handshakes_now")

    def _end_handshake(self) -> None:
        if self.in_handshake:
            self.in_handshake = False
            self.stats.add("handshakes_now", -1)

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_handshake()
        if self.counted:
            self.counted = False
            self.stats.add("connections_now", -1)

    async def begin_auth(self, username: str) -> bool:
        if self.options.auth_delay:
            await asyncio.sleep(self.options.auth_delay)
        return True

    def auth_completed(self) -> None:
        self._end_handshake()
        self.stats.add("auth_ok")

    def session_requested(self) -> Session:
        return Session(self.stats, self.options.cwd)

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> bool:
        return bool(self.options.forwarding)

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        # remote TCP forwarding (a listener on this host, back to the client)
        return self.options.remote_forwarding in ("tcp", "both") and listen_host in (
            "127.0.0.1",
            "localhost",
        )

    def unix_server_requested(self, listen_path: str) -> bool:
        # remote Unix socket forwarding
        return self.options.remote_forwarding in ("unix", "both")


LIVE: set[Session] = set()  # sessions whose process may still run, killed at exit

FILE_ATTRS = asyncssh.SFTPAttrs(
    type=asyncssh.FILEXFER_TYPE_REGULAR, permissions=0o100644, size=5, atime=0, mtime=0
)
LINK_ATTRS = asyncssh.SFTPAttrs(
    type=asyncssh.FILEXFER_TYPE_SYMLINK, permissions=0o120777, size=1, atime=0, mtime=0
)
# --hostile-sftp: what a hostile server lists in these directories (name: entries,
# each (name, attributes, symlink target)); the directories must exist on disk
HOSTILE: dict[bytes, list[tuple[bytes, asyncssh.SFTPAttrs, bytes]]] = {
    b"hostile-dotdot": [(b"../../escaped", FILE_ATTRS, b"")],
    b"hostile-absolute-link": [(b"link", LINK_ATTRS, b"/etc")],
    b"hostile-up-link": [(b"link", LINK_ATTRS, b"../../outside")],
    # each link stays inside by itself; together they lead out ("s/.." is the parent
    # of the pull folder, as s is the pull folder)
    b"hostile-chain": [(b"s", LINK_ATTRS, b".."), (b"t", LINK_ATTRS, b"s/../..")],
}


class LoggingSFTPServer(asyncssh.SFTPServer):
    """asyncssh's SFTP server that logs file opens and directory creations (with the
    permissions asked for) to ``--sftp-log``, and with ``--hostile-sftp`` lists the
    made-up entries of :data:`HOSTILE`."""

    log_path: str | None = None
    hostile = False

    def _log(self, **record: Any) -> None:
        if self.log_path is not None:
            with open(self.log_path, "a") as file:
                file.write(json.dumps(record) + "\n")

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> Any:
        write = bool(pflags & asyncssh.FXF_WRITE)
        self._log(op="open", path=path.decode(), write=write, permissions=attrs.permissions)
        return super().open(path, pflags, attrs)

    def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> Any:
        self._log(op="mkdir", path=path.decode(), permissions=attrs.permissions)
        return super().mkdir(path, attrs)

    def _made_up(self, path: bytes) -> list[tuple[bytes, asyncssh.SFTPAttrs, bytes]] | None:
        return HOSTILE.get(os.path.basename(path.rstrip(b"/"))) if self.hostile else None

    async def scandir(self, path: bytes) -> Any:
        entries = self._made_up(path)
        if entries is None:
            async for entry in super().scandir(path):
                yield entry
            return
        for name, attrs, _ in entries:
            yield asyncssh.SFTPName(name, attrs=attrs)

    def readlink(self, path: bytes) -> Any:
        listing = self._made_up(os.path.dirname(path))
        for name, _, target in listing or ():
            if name == os.path.basename(path):
                return target
        return super().readlink(path)


class Session(_Session):
    """One session channel: SFTP (the logging server above), or an exec session run as a
    local ``/bin/sh -c`` process wired to the channel: the sandbox's session, counted."""

    def __init__(self, stats: Stats, cwd: str) -> None:
        super().__init__(Path(cwd), LIVE, sftp_factory=LoggingSFTPServer)
        self.stats = stats
        self.open = False

    def started(self) -> None:
        self.open = True
        self.stats.add("sessions")
        self.stats.add("sessions_now")

    def process_started(self) -> None:
        self.stats.add("processes_now")

    def process_ended(self) -> None:
        self.stats.add("processes_now", -1)

    def signalled(self) -> None:
        self.stats.add("signals")

    def closed(self) -> None:
        if self.open:
            self.open = False
            self.stats.add("sessions_now", -1)


def _absolute(options: argparse.Namespace) -> argparse.Namespace:
    """Paths given relative to the caller's directory, made absolute before the server
    changes directory to ``--cwd``."""
    for name in ("stats", "authorized_keys", "cwd", "sftp_log"):
        if getattr(options, name) is not None:
            setattr(options, name, os.path.abspath(getattr(options, name)))
    return options


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=1)
    parser.add_argument("--authorized-keys", required=True)
    parser.add_argument("--stats", required=True)
    parser.add_argument("--cwd", default=os.getcwd())
    parser.add_argument("--forwarding", action="store_true")
    parser.add_argument("--auth-delay", type=float, default=0.0)
    parser.add_argument(
        "--remote-forwarding", choices=("none", "tcp", "unix", "both"), default="none"
    )
    # host i listens on port + i (0: each host on a free port); a fixed port serves
    # clients that cannot be told a port (the apssh command's targets have none)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--sftp-log", default=None)
    parser.add_argument("--hostile-sftp", action="store_true")
    options = _absolute(parser.parse_args())
    LoggingSFTPServer.log_path = options.sftp_log
    LoggingSFTPServer.hostile = options.hostile_sftp
    os.chdir(options.cwd)  # the "home directory": commands and SFTP paths start here

    stats = Stats(options.stats)
    servers = []
    host_keys = []
    for index in range(options.hosts):
        key = asyncssh.generate_private_key("ssh-ed25519")
        server = await asyncssh.listen(
            "127.0.0.1",
            options.port + index if options.port else 0,
            server_host_keys=[key],
            authorized_client_keys=options.authorized_keys,
            server_factory=lambda: Server(stats, options),
            encoding=None,
            login_timeout=30,
            keepalive_interval=0,
        )
        servers.append(server)
        host_keys.append(key.export_public_key("openssh").decode().strip())
    ports = [server.sockets[0].getsockname()[1] for server in servers]

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, stats.reset_maxima)
    print(json.dumps({"ports": ports, "host_keys": host_keys, "pid": os.getpid()}), flush=True)
    await stop.wait()
    for server in servers:
        server.close()
    for session in list(LIVE):
        session.kill(signal.SIGKILL)


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
