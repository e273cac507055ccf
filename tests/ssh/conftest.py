"""Real SSH servers on 127.0.0.1 for the SSH tests.

- :func:`start_asyncssh`: an asyncssh server in a subprocess (``_server.py``) serving
  several "hosts" (one port each, one process), so that asyncio and trio tests alike
  can talk to it; it counts handshakes and sessions in flight on the server side.
- the ``sshd`` fixture: OpenSSH's ``sshd`` on a free loopback port, with a generated
  host key and our client key authorised for the current user (root in CI). The
  tests using it are skipped, saying why, when ``/usr/sbin/sshd`` is not installed
  (``scripts/setup.sh`` installs Debian's ``openssh-server``).

Every server is stopped at fixture teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import pytest

import jobgraph as jg
from jobgraph_ssh import CaptureFormatter, LocalNode, Node, SshNode, close_all
from jobgraph_ssh._asyncssh import _connection, _glue

SERVER_SCRIPT = Path(__file__).with_name("_server.py")
SSHD = "/usr/sbin/sshd"
POOLED_THREADS = ("Trio thread ", "asyncio_")


@dataclass(frozen=True)
class ClientKey:
    """A client key pair generated for the test session."""

    private: Path
    public: Path


@dataclass
class Servers:
    """A running set of loopback SSH "hosts"."""

    host: str
    ports: list[int]
    client_key: Path
    known_hosts: Path  # lists every port's host key
    host_keys: list[str]  # OpenSSH public key lines, one per port
    stats_path: Path | None = None
    pid: int = 0
    username: str = "tester"

    def stats(self) -> dict[str, int]:
        """The server-side counters (see ``_server.py``)."""
        assert self.stats_path is not None, "sshd keeps no counters"
        values: dict[str, int] = json.loads(self.stats_path.read_text())
        return values

    def reset_maxima(self) -> None:
        """Set the maxima back to the current values (handshakes, sessions)."""
        before = self.stats_path.stat().st_mtime_ns if self.stats_path else 0
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while self.stats_path and self.stats_path.stat().st_mtime_ns == before:
            assert time.monotonic() < deadline, "server did not reset its counters"
            time.sleep(0.01)

    def wait_stats(self, key: str, value: int, timeout: float = 5.0) -> dict[str, int]:
        """Wait (bounded) until counter ``key`` equals ``value``; return the counters."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if stats[key] == value or time.monotonic() > deadline:
                return stats
            time.sleep(0.02)


def known_hosts_line(host: str, port: int, public_key: str) -> str:
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {public_key}\n"


@pytest.fixture(scope="session")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> ClientKey:
    directory = tmp_path_factory.mktemp("client-key")
    key = asyncssh.generate_private_key("ssh-ed25519")
    private = directory / "id_ed25519"
    private.write_bytes(key.export_private_key("openssh"))
    private.chmod(0o600)
    public = directory / "id_ed25519.pub"
    public.write_bytes(key.export_public_key("openssh"))
    return ClientKey(private, public)


@contextlib.contextmanager
def start_asyncssh(
    directory: Path,
    client_key: ClientKey,
    *,
    hosts: int = 1,
    forwarding: bool = False,
    auth_delay: float = 0.0,
    remote_forwarding: str = "none",
    extra: tuple[str, ...] = (),
) -> Iterator[Servers]:
    """Start ``_server.py`` serving ``hosts`` ports; stop it (and its processes) on exit.

    ``extra``: more options for ``_server.py`` (``--sftp-log FILE``, ``--hostile-sftp``).
    """
    directory.mkdir(parents=True, exist_ok=True)
    stats = directory / "stats.json"
    command = [
        sys.executable,
        str(SERVER_SCRIPT),
        "--hosts",
        str(hosts),
        "--authorized-keys",
        str(client_key.public),
        "--stats",
        str(stats),
        "--cwd",
        str(directory),
        "--auth-delay",
        str(auth_delay),
    ]
    if forwarding:
        command.append("--forwarding")
    if remote_forwarding != "none":
        command += ["--remote-forwarding", remote_forwarding]
    command += extra
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the server prints one line when ready
        if not line:
            raise RuntimeError(f"SSH test server failed to start (exit {proc.wait(5)})")
        ready: dict[str, Any] = json.loads(line)
        known_hosts = directory / "known_hosts"
        known_hosts.write_text(
            "".join(
                known_hosts_line("127.0.0.1", port, key)
                for port, key in zip(ready["ports"], ready["host_keys"], strict=True)
            )
        )
        yield Servers(
            host="127.0.0.1",
            ports=list(ready["ports"]),
            client_key=client_key.private,
            known_hosts=known_hosts,
            host_keys=list(ready["host_keys"]),
            stats_path=stats,
            pid=proc.pid,
        )
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, client_key: ClientKey) -> Iterator[Servers]:
    """Four loopback hosts, no forwarding."""
    with start_asyncssh(tmp_path_factory.mktemp("hosts"), client_key, hosts=4) as running:
        yield running


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory, client_key: ClientKey) -> Iterator[Servers]:
    """Two loopback hosts that allow port forwarding (to act as gateways)."""
    directory = tmp_path_factory.mktemp("gateways")
    with start_asyncssh(directory, client_key, hosts=2, forwarding=True) as running:
        yield running


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory, client_key: ClientKey) -> Iterator[Servers]:
    """OpenSSH's sshd on a free loopback port, our client key authorised for the current user."""
    if not shutil.which(SSHD) and not os.path.exists(SSHD):
        pytest.skip(f"OpenSSH server not installed ({SSHD} missing; scripts/setup.sh installs it)")
    directory = tmp_path_factory.mktemp("sshd")
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    host_key_path = directory / "ssh_host_ed25519_key"
    host_key_path.write_bytes(host_key.export_private_key("openssh"))
    host_key_path.chmod(0o600)
    authorized = directory / "authorized_keys"
    authorized.write_bytes(client_key.public.read_bytes())
    port = free_port()
    config = directory / "sshd_config"
    config.write_text(
        f"Port {port}\n"
        "ListenAddress 127.0.0.1\n"
        f"HostKey {host_key_path}\n"
        f"PidFile {directory / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {authorized}\n"
        "StrictModes no\n"
        "PermitRootLogin prohibit-password\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        "AllowTcpForwarding yes\n"
        "AllowStreamLocalForwarding yes\n"
        "StreamLocalBindUnlink yes\n"
        "Subsystem sftp internal-sftp\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log_path = directory / "sshd.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=log)
    try:
        deadline = time.monotonic() + 10
        while "Server listening" not in log_path.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not start: {log_path.read_text()}")
            time.sleep(0.02)
        known_hosts = directory / "known_hosts"
        public = host_key.export_public_key("openssh").decode().strip()
        known_hosts.write_text(known_hosts_line("127.0.0.1", port, public))
        yield Servers(
            host="127.0.0.1",
            ports=[port],
            client_key=client_key.private,
            known_hosts=known_hosts,
            host_keys=[public],
            pid=proc.pid,
            username=getpass.getuser(),
        )
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def make_node(servers: Servers, index: int = 0, **options: Any) -> SshNode:
    """An SshNode for one of the servers' hosts, with the test key and known_hosts."""
    options.setdefault("username", servers.username)
    options.setdefault("keys", [servers.client_key])
    options.setdefault("known_hosts", servers.known_hosts)
    return SshNode(servers.host, port=servers.ports[index], **options)


async def run_jobs(*jobs: jg.AbstractJob) -> bool:
    """Run the jobs in a scheduler of their own, then close their nodes' connections."""
    scheduler = jg.Scheduler(*jobs)
    try:
        return await scheduler.run()
    finally:
        await close_all(scheduler)


WHERE = ["local", "asyncssh", "sshd"]


def servers_for(request: pytest.FixtureRequest, where: str) -> Servers:
    """The servers of one kind: ``"asyncssh"`` (the loopback asyncssh servers) or
    ``"sshd"`` (OpenSSH's)."""
    fixture = {"asyncssh": "servers", "sshd": "sshd"}[where]
    servers: Servers = request.getfixturevalue(fixture)
    return servers


def node_for(request: pytest.FixtureRequest, where: str, index: int = 0, **options: Any) -> Node:
    """A node of one kind (one of :data:`WHERE`), with these options; on servers, the
    host ``index`` of them (test modules spread over the hosts)."""
    if where == "local":
        return LocalNode(**options)
    return make_node(servers_for(request, where), index, **options)


@pytest.fixture(params=WHERE)
def where(request: pytest.FixtureRequest) -> str:
    """Each kind of node in turn (a test parametrizing ``where`` itself picks its own)."""
    kind: str = request.param
    return kind


@pytest.fixture
def formatter() -> CaptureFormatter:
    """What the ``node`` fixture's node prints."""
    return CaptureFormatter()


@pytest.fixture
def node(request: pytest.FixtureRequest, where: str, formatter: CaptureFormatter) -> Node:
    """A node of the kind ``where`` names, printing to ``formatter`` (a test module may
    define a ``node`` of its own)."""
    return node_for(request, where, formatter=formatter)


def open_links() -> list[str]:
    """Names of the nodes whose connection is still open, on any loop."""
    return [
        link.node.name
        for links in list(_connection._links.values())
        for link in list(links)
        if link.alive()
    ]


def background_tasks() -> list[str]:
    """Tasks still pending on the background asyncio loop (used under trio), if it runs."""
    thread = _glue.background_thread()
    if thread is None or not thread.is_alive():
        return []
    loop = _glue.background_loop()

    async def pending() -> list[str]:
        await asyncio.sleep(0.05)  # let tasks that are finishing finish
        me = asyncio.current_task()
        return [repr(task) for task in asyncio.all_tasks() if task is not me]

    return asyncio.run_coroutine_threadsafe(pending(), loop).result(timeout=5)


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Each SSH test leaves no connection open and no thread behind.

    The background asyncio thread (one per process, used under trio) is allowed, and
    so are pooled worker threads (trio's thread cache, asyncio's default executor),
    which idle until reused.
    """
    before = set(threading.enumerate())
    yield
    assert open_links() == [], "connections left open (the test must close_all)"
    assert background_tasks() == [], "tasks left running on the background asyncio loop"
    deadline = time.monotonic() + 2
    while True:
        extra = [
            thread
            for thread in threading.enumerate()
            if thread not in before
            and thread is not _glue.background_thread()
            and not thread.name.startswith(POOLED_THREADS)
        ]
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert extra == [], f"threads left running: {extra}"
