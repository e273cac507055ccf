"""The ``jobgraph-ssh`` command, run for real as a subprocess against the loopback SSH
servers of the SSH tests (an asyncssh server serving several hosts, with server-side
counters; OpenSSH's sshd)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

import jobgraph_ssh
from tests.ssh.conftest import ClientKey, Servers, client_key, sshd, start_asyncssh

__all__ = ["Cli", "ClientKey", "Servers", "client_key", "sshd"]

SRC = Path(jobgraph_ssh.__file__).resolve().parent.parent
# the checkout (pyproject.toml, and tests as a package for the subprocesses); SRC may be
# elsewhere (scripts/mutants.py plants its bugs in a copy of src/)
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60  # seconds any one command may take in a test


def console_script(directory: Path) -> Path:
    """A launcher for the ``jobgraph-ssh`` entry point of pyproject.toml, written the way
    pip writes console scripts (``from module import function; sys.exit(function())``)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    target = project["project"]["scripts"]["jobgraph-ssh"]
    module, function = target.split(":")
    script = directory / "jobgraph-ssh"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nfrom {module} import {function}\nsys.exit({function}())\n"
    )
    script.chmod(0o755)
    return script


@dataclass
class Cli:
    """Runs the command with the test key and known_hosts, isolated from the user's
    own configuration (targets directory, agent)."""

    launcher: list[str]
    env: dict[str, str]
    base: list[str]  # options every run gets (key, known_hosts file)

    def command(self, *args: str, base: bool = True) -> list[str]:
        return [*self.launcher, *(self.base if base else []), *args]

    def run(
        self, *args: str, base: bool = True, cwd: Path | None = None, timeout: float = TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args, base=base),
            capture_output=True,
            text=True,
            env=self.env,
            cwd=cwd,
            timeout=timeout,
            check=False,
        )

    def popen(self, *args: str, **options: object) -> subprocess.Popen[str]:
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            self.command(*args), env=self.env, text=True, **options
        )


def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "COLUMNS")}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(ROOT)])
    env["JOBGRAPH_SSH_TARGETS"] = str(tmp_path / "user-targets")
    env.pop("FORCE_COLOR", None)
    env.pop("TTY_COMPATIBLE", None)
    return env


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, client_key: ClientKey) -> Iterator[Servers]:
    """Four loopback hosts (one asyncssh server process, with counters)."""
    with start_asyncssh(tmp_path_factory.mktemp("cli-hosts"), client_key, hosts=4) as running:
        yield running


@pytest.fixture(params=["module", "script"])
def cli(request: pytest.FixtureRequest, tmp_path: Path, servers: Servers) -> Cli:
    """The command, as ``python -m jobgraph_ssh`` and as the console script."""
    if request.param == "module":
        launcher = [sys.executable, "-m", "jobgraph_ssh"]
    else:
        launcher = [str(console_script(tmp_path))]
    return Cli(launcher, cli_env(tmp_path), base_options(servers))


@pytest.fixture
def cli1(tmp_path: Path, servers: Servers) -> Cli:
    """The command as ``python -m jobgraph_ssh`` only."""
    return Cli([sys.executable, "-m", "jobgraph_ssh"], cli_env(tmp_path), base_options(servers))


def base_options(servers: Servers) -> list[str]:
    return ["-k", str(servers.client_key), "--known-hosts-file", str(servers.known_hosts)]


def names(servers: Servers, indexes: Sequence[int] | None = None) -> list[str]:
    """The hosts of ``servers`` as targets: ``127.0.0.1:PORT``."""
    chosen = range(len(servers.ports)) if indexes is None else indexes
    return [f"{servers.host}:{servers.ports[i]}" for i in chosen]


def stdout_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return sorted(result.stdout.splitlines())


def terminal_run(cli: Cli, *args: str, stdout: int = subprocess.DEVNULL) -> tuple[int, str, str]:
    """Run with stderr on a terminal (where rich draws its panel and summary table):
    the exit status, what was drawn there, and stdout (with ``stdout=subprocess.PIPE``)."""
    leader, follower = pty.openpty()
    try:
        process = cli.popen(*args, stdout=stdout, stderr=follower)
        os.close(follower)
        follower = -1
        drawn = b""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal's other side closed: the command ended
                break
            if not chunk:
                break
            drawn += chunk
        out, _ = process.communicate(timeout=TIMEOUT)
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    return process.returncode, drawn.decode(errors="replace"), out or ""
