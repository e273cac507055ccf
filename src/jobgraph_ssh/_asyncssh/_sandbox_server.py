"""The servers of :mod:`jobgraph_ssh.sandbox`: asyncssh, on 127.0.0.1 only (asyncio
is fenced here, as in the other asyncssh glue).

Each host runs a command as ``/bin/sh -c COMMAND`` in a new process group, in the
sandbox's ``home`` directory: stdin, stdout, stderr, the exit status and signals pass
through; SFTP is on; when the channel goes away the command's group is killed.
Forwarding is allowed to and from the loopback interface only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncssh
from asyncssh.stream import SSHServerStreamSession

__all__ = ["serve"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_CHUNK = 65536


class _Host(asyncssh.SSHServer):
    """One per connection: forwarding on the loopback interface only."""

    def __init__(self, home: Path, sessions: set[_Session]) -> None:
        self.home = home
        self.sessions = sessions

    def begin_auth(self, username: str) -> bool:
        return True  # a key is needed, whatever the user name

    def session_requested(self) -> _Session:
        return _Session(self.home, self.sessions)

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> bool:
        return dest_host in _LOOPBACK  # a gateway to the other sandbox hosts, no further

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        return listen_host in _LOOPBACK

    def unix_server_requested(self, listen_path: str) -> bool:
        return True  # a socket file, as the current user


class _Session(SSHServerStreamSession[bytes]):
    """SFTP (asyncssh's server, or ``sftp_factory``), or a command run by ``/bin/sh -c``
    in its own process group, wired to the channel.

    The test suite's server (``tests/ssh/_server.py``) is this session with counters:
    it overrides the hooks ``started``, ``process_started``, ``process_ended``,
    ``signalled`` and ``closed``, which do nothing here.
    """

    def __init__(
        self, home: Path, sessions: set[Any], sftp_factory: type[Any] = asyncssh.SFTPServer
    ) -> None:
        super().__init__(None, sftp_factory=sftp_factory, sftp_version=3)
        self.home = home
        self.sessions = sessions
        self.chan: Any = None
        self.command: str | None = None
        self.proc: asyncio.subprocess.Process | None = None
        self.early: list[bytes | None] = []  # stdin that came before the process
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, chan: Any) -> None:
        super().connection_made(chan)
        self.chan = chan

    def shell_requested(self) -> bool:
        return False

    def exec_requested(self, command: str) -> bool:
        self.command = command
        return True

    def session_started(self) -> None:
        if self.command is None:
            super().session_started()
            return
        self.chan.set_encoding(None)
        self.sessions.add(self)
        self.started()
        self.task = asyncio.get_running_loop().create_task(self._run())

    # hooks for a subclass that counts (the test suite's server)
    def started(self) -> None:
        """An exec session started (before its process)."""

    def process_started(self) -> None:
        """Its process started."""

    def process_ended(self) -> None:
        """Its process's output ended (before its exit status is sent)."""

    def signalled(self) -> None:
        """The client sent a signal."""

    def closed(self) -> None:
        """The channel closed."""

    async def _run(self) -> None:
        env = dict(os.environ)
        env.update({str(k): str(v) for k, v in self.chan.get_environment().items()})
        try:
            self.proc = await asyncio.create_subprocess_exec(
                "/bin/sh", "-c", self.command or "",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=env, cwd=self.home, start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            self.chan.write_stderr(f"cannot start /bin/sh: {exc}\n".encode())
            self.chan.exit(127)
            return
        self.process_started()
        for data in self.early:
            self._feed(data)
        self.early.clear()
        chan = self.chan

        async def pump(reader: asyncio.StreamReader, write: Callable[[bytes], object]) -> None:
            while chunk := await reader.read(_CHUNK):
                with contextlib.suppress(Exception):  # the channel closed: drop the output
                    write(chunk)

        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        try:
            await asyncio.gather(
                pump(self.proc.stdout, chan.write), pump(self.proc.stderr, chan.write_stderr)
            )
            status = await self.proc.wait()
        finally:
            self.process_ended()
            self.sessions.discard(self)
        with contextlib.suppress(Exception):
            if status >= 0:
                chan.exit(status)
            else:
                chan.exit_with_signal(signal.Signals(-status).name.removeprefix("SIG"))

    def _feed(self, data: bytes | None) -> None:
        assert self.proc is not None
        assert self.proc.stdin is not None
        with contextlib.suppress(Exception):
            if data is None:
                self.proc.stdin.close()
            else:
                self.proc.stdin.write(data)

    def data_received(self, data: Any, datatype: asyncssh.DataType) -> None:
        if self.command is None:
            super().data_received(data, datatype)
        elif self.proc is None:
            self.early.append(data)
        else:
            self._feed(data)

    def eof_received(self) -> bool:
        if self.command is None:
            return bool(super().eof_received())
        if self.proc is None:
            self.early.append(None)
        else:
            self._feed(None)
        return True  # the command may still write

    def kill(self, signum: int) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signum)

    def signal_received(self, signal_name: str) -> None:
        if self.command is None:
            super().signal_received(signal_name)
            return
        self.signalled()
        signum = getattr(signal, "SIG" + signal_name, None)
        if isinstance(signum, int):
            self.kill(signum)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.kill(signal.SIGKILL)  # nobody can read its output any more: a hang-up
        self.closed()


async def _serve(
    directory: Path,
    hosts: int,
    port: int,
    public_key: Path,
    ready: Callable[[list[int], list[str]], None],
) -> None:
    sessions: set[_Session] = set()
    home = directory / "home"
    servers = []
    host_keys = []
    try:
        for index in range(hosts):
            key = asyncssh.generate_private_key("ssh-ed25519")
            server = await asyncssh.listen(
                "127.0.0.1",
                port + index if port else 0,
                server_host_keys=[key],
                authorized_client_keys=str(public_key),
                server_factory=lambda: _Host(home, sessions),
                encoding=None,
                login_timeout=30,
                keepalive_interval=0,
            )
            servers.append(server)
            host_keys.append(key.export_public_key("openssh").decode().strip())
        ports = [server.sockets[0].getsockname()[1] for server in servers]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        ready(ports, host_keys)
        await stop.wait()
    finally:
        for server in servers:
            server.close()
        for session in list(sessions):
            session.kill(signal.SIGKILL)
        for server in servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)


def serve(
    directory: Path,
    *,
    hosts: int,
    port: int,
    public_key: Path,
    ready: Callable[[list[int], list[str]], None],
) -> int:
    """Serve ``hosts`` hosts until SIGINT or SIGTERM; ``ready(ports, host_keys)`` is
    called once they listen. Returns the exit status (0; 2 if a port was taken).

    The process changes directory to ``directory/home``: the hosts' commands start
    there, and so do the relative paths of SFTP (asyncssh's SFTP server reads them from
    the process's directory)."""
    import sys

    os.chdir(directory / "home")
    try:
        asyncio.run(_serve(directory, hosts, port, public_key, ready))
    except OSError as exc:
        sys.stderr.write(f"sandbox: cannot listen on 127.0.0.1: {exc.strerror or exc}\n")
        return 2
    sys.stderr.write("sandbox: stopped\n")
    return 0
