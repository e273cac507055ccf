"""Time the ``jobgraph-ssh`` command against ``apssh`` and OpenSSH's ``ssh`` run by
``xargs -P``, each running ``true`` on K loopback hosts, side by side in one run.

Usage::

    python benchmarks/bench_cli.py [--hosts 100] [--repeat 3] [--servers asyncssh,sshd]
                                   [--tools jobgraph-ssh,apssh,xargs-ssh,xargs-ssh-p10]

Servers (started once per run, on 127.0.0.1):

* ``asyncssh``: the test server of ``tests/ssh/_server.py`` listening on port 22 (the
  ``apssh`` command takes no port), K "hosts" told apart by their user name
  (``u001@127.0.0.1`` ... ``u100@127.0.0.1``): K connections for every tool;
* ``sshd``: OpenSSH's ``sshd`` on K ports (15 per daemon: sshd listens on 16 sockets at
  most; ``MaxStartups 300`` so that ``xargs -P K`` is not throttled), the current user;
  ``apssh`` is left out there (no ports in its targets).

Tools, each one whole command run from the shell, its output thrown away:

* ``jobgraph-ssh``: ``python -m jobgraph_ssh -t FILE -k KEY --known-hosts-file F true``
  (default window 100; 8 handshakes in flight at most, strict host keys);
  ``jobgraph-ssh-h100``: the same with ``--handshakes 100``;
* ``apssh``: ``apssh -t FILE -k KEY true`` (apssh 0.27; it does not check host keys);
* ``xargs-ssh``: ``xargs -P K ssh -o BatchMode=yes ... true``, one ``ssh`` process per
  host, all at once; ``xargs-ssh-p10``: the same with ``-P 10``.

Measured per command: wall time; client CPU (user + system of the command and every
process it started, from ``getrusage(RUSAGE_CHILDREN)``); the server's CPU during the
command (``/proc/PID/stat``, asyncssh server only: sshd forks a process per
connection); hosts that failed. Median of ``--repeat`` runs, after one warm-up run.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "tests" / "ssh" / "_server.py"
SSHD = "/usr/sbin/sshd"
TOOLS = ("jobgraph-ssh", "jobgraph-ssh-h100", "apssh", "xargs-ssh", "xargs-ssh-p10")
TICKS = os.sysconf("SC_CLK_TCK")
PORTS_PER_SSHD = 15


class Setup:
    def __init__(self, name: str, directory: Path) -> None:
        self.name = name
        self.directory = directory
        self.targets: list[str] = []  # user@host[:port]
        self.key = directory / "id_ed25519"
        self.known_hosts = directory / "known_hosts"
        self.server_pid: int | None = None

    def server_cpu(self) -> float:
        if self.server_pid is None:
            return float("nan")
        fields = Path(f"/proc/{self.server_pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS


def make_key(directory: Path) -> None:
    key = directory / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


@contextmanager
def asyncssh_server(directory: Path, hosts: int) -> Iterator[Setup]:
    setup = Setup("asyncssh", directory)
    make_key(directory)
    command = [
        sys.executable, str(SERVER), "--hosts", "1", "--port", "22",
        "--authorized-keys", f"{setup.key}.pub", "--stats", str(directory / "stats.json"),
        "--cwd", str(directory),
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        setup.known_hosts.write_text(f"127.0.0.1 {ready['host_keys'][0]}\n")
        setup.targets = [f"u{i:03d}@127.0.0.1" for i in range(1, hosts + 1)]
        setup.server_pid = proc.pid
        yield setup
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def free_ports(count: int) -> list[int]:
    import socket

    sockets, ports = [], []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in sockets:
        sock.close()
    return ports


@contextmanager
def sshd_server(directory: Path, hosts: int) -> Iterator[Setup]:
    setup = Setup("sshd", directory)
    make_key(directory)
    host_key = directory / "host_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    ports = free_ports(hosts)
    # sshd listens on 16 sockets at most (MAX_LISTEN_SOCKS): one daemon per 15 ports
    groups = [ports[i : i + PORTS_PER_SSHD] for i in range(0, hosts, PORTS_PER_SSHD)]
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for index, group in enumerate(groups):
            config = directory / f"sshd_config.{index}"
            config.write_text(
                "".join(f"Port {port}\n" for port in group) + "ListenAddress 127.0.0.1\n"
                f"HostKey {host_key}\nPidFile {directory / f'sshd.{index}.pid'}\n"
                f"AuthorizedKeysFile {setup.key}.pub\nStrictModes no\n"
                "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                "KbdInteractiveAuthentication no\nUsePAM no\nMaxStartups 300\n"
            )
            log = directory / f"sshd.{index}.log"
            with log.open("w") as out:
                procs.append(subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=out))
            deadline = time.monotonic() + 20
            while log.read_text().count("Server listening") < len(group):
                if procs[-1].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sshd did not start: {log.read_text()[-2000:]}")
                time.sleep(0.05)
        public = Path(f"{host_key}.pub").read_text().split()[:2]
        setup.known_hosts.write_text(
            "".join(f"[127.0.0.1]:{port} {' '.join(public)}\n" for port in ports)
        )
        user = getpass.getuser()
        setup.targets = [f"{user}@127.0.0.1:{port}" for port in ports]
        yield setup
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


def command_for(tool: str, setup: Setup, listing: Path) -> tuple[list[str], str | None]:
    """(argv, stdin text) for one run of ``tool``."""
    if tool.startswith("jobgraph-ssh"):
        more = ["--handshakes", "100"] if tool == "jobgraph-ssh-h100" else []
        return [
            sys.executable, "-m", "jobgraph_ssh", "-t", str(listing), "-k", str(setup.key),
            "--known-hosts-file", str(setup.known_hosts), *more, "true",
        ], None  # fmt: skip
    if tool == "apssh":
        apssh = shutil.which("apssh") or str(Path(sys.executable).with_name("apssh"))
        return [apssh, "-t", str(listing), "-k", str(setup.key), "true"], None
    parallel = str(len(setup.targets)) if tool == "xargs-ssh" else "10"
    lines = []
    for target in setup.targets:
        user_host, _, port = target.partition(":")
        lines.append(f"{port or 22} {user_host}")
    return [
        "xargs", "-P", parallel, "-L", "1", "sh", "-c",
        'exec ssh -F /dev/null -p "$0" -i ' + str(setup.key)
        + " -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes"
        + f" -o UserKnownHostsFile={setup.known_hosts} -o GlobalKnownHostsFile=/dev/null"
        + ' -o LogLevel=ERROR "$1" true',
    ], "\n".join(lines) + "\n"  # fmt: skip


def measure(argv: list[str], stdin: str | None, setup: Setup) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    env.pop("SSH_AUTH_SOCK", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = setup.server_cpu()
    started = time.perf_counter()
    result = subprocess.run(
        argv, input=stdin, text=True, env=env, capture_output=True, timeout=600, check=False
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "wall": wall,
        "cpu": cpu,
        "server_cpu": setup.server_cpu() - server_before,
        "status": result.returncode,
        "stderr": len(result.stderr.splitlines()),
    }


def bench(setup: Setup, tools: list[str], repeat: int) -> list[dict[str, object]]:
    listing = setup.directory / "targets"
    listing.write_text("\n".join(setup.targets) + "\n")
    rows: list[dict[str, object]] = []
    for tool in tools:
        if tool == "apssh" and setup.name != "asyncssh":
            continue
        if tool == "apssh" and not (
            shutil.which("apssh") or Path(sys.executable).with_name("apssh").exists()
        ):
            print(f"  {tool}: not installed, skipped", file=sys.stderr)
            continue
        argv, stdin = command_for(tool, setup, listing)
        measure(argv, stdin, setup)  # warm-up: page cache, sshd's first fork
        runs = [measure(argv, stdin, setup) for _ in range(repeat)]
        row: dict[str, object] = {"server": setup.name, "tool": tool}
        for key in ("wall", "cpu", "server_cpu"):
            row[key] = statistics.median(run[key] for run in runs)
        row["failed_runs"] = sum(1 for run in runs if run["status"] != 0)
        rows.append(row)
        print(f"  {setup.name} {tool}: {row}", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--servers", default="asyncssh,sshd")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--json", help="write the raw numbers there")
    options = parser.parse_args()
    tools = options.tools.split(",")
    rows: list[dict[str, object]] = []
    for name in options.servers.split(","):
        with tempfile.TemporaryDirectory(prefix=f"bench-cli-{name}-") as temporary:
            starter = asyncssh_server if name == "asyncssh" else sshd_server
            with starter(Path(temporary), options.hosts) as setup:
                rows += bench(setup, tools, options.repeat)
    ssh_version = subprocess.run(
        ["ssh", "-V"], capture_output=True, text=True, check=False
    ).stderr.strip()
    print(
        f"jobgraph-ssh vs apssh vs xargs+ssh: {options.hosts} loopback hosts, command 'true', "
        f"median of {options.repeat}\npython {platform.python_version()}, {ssh_version}, "
        f"{platform.platform()}, {os.cpu_count()} CPUs\n"
    )
    header = (
        f"{'server':<9} {'tool':<18} {'wall s':>7} {'client CPU s':>13} "
        f"{'server CPU s':>13} {'failed runs':>12}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        server_cpu = row["server_cpu"]
        assert isinstance(server_cpu, float)
        shown = "n/a" if server_cpu != server_cpu else f"{server_cpu:.2f}"
        print(
            f"{row['server']:<9} {row['tool']:<18} {row['wall']:>7.2f} {row['cpu']:>13.2f} "
            f"{shown:>13} {row['failed_runs']:>12}"
        )
    if options.json:
        Path(options.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
