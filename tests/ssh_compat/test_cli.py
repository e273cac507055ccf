"""apssh's command line (``jobgraph_ssh.compat.apssh.cli``), run as a subprocess
(``python -m jobgraph_ssh.compat.apssh``) against the loopback servers of ``tests/ssh``:
what a user sees (output lines, exit status, files written)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import jobgraph_ssh
from jobgraph_ssh.compat.apssh import CaptureFormatter, RunScript, RunString, SshJob, SshNode
from jobgraph_ssh.compat.apssh.cli import Apssh, Targets
from tests.ssh.conftest import Servers, free_port

from .test_api import run_closing

# the sources this test imports (a mutated copy too: scripts/mutants.py), not the worktree's
SRC = Path(jobgraph_ssh.__file__).resolve().parents[1]


def apssh(
    *argv: str, cwd: Path, tool: str = "apssh", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the command with ``argv`` in ``cwd`` (also its HOME: no ~/.apssh, no agent)."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "HOME": str(cwd), "SSH_AUTH_SOCK": ""}
    command = [sys.executable, "-m", "jobgraph_ssh.compat.apssh"]
    if tool != "apssh":
        command = [
            sys.executable,
            "-c",
            f"from jobgraph_ssh.compat.apssh.cli import {tool}; {tool}()",
        ]
    return subprocess.run(
        [*command, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def auth(servers: Servers) -> list[str]:
    return ["-l", servers.username, "-k", str(servers.client_key)]


def test_a_command_on_targets_given_as_a_string(servers: Servers, tmp_path: Path) -> None:
    first, second = servers.ports[:2]
    done = apssh(
        *auth(servers),
        "-t", f"127.0.0.1:{first},localhost:{second}",
        "echo", "hello", "'a  b'", "|", "tr", "a-z", "A-Z",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # each line prefixed with the host's short name (an address is kept whole)
    assert sorted(done.stdout.splitlines()) == ["127.0.0.1:HELLO A  B", "localhost:HELLO A  B"]


def test_exit_status_marks_and_output_directory(servers: Servers, tmp_path: Path) -> None:
    nobody = free_port()  # nothing listens there: unreachable
    targets = tmp_path / "targets"
    targets.write_text(f"# two hosts\n127.0.0.1:{servers.ports[0]}\n  localhost:{nobody}\n")
    done = apssh(*auth(servers), "-c", "5", "-t", "targets", "-o", "out", "-m",
                 "echo out; echo err >&2", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1  # a target did not return 0
    assert done.stdout.splitlines()[-1] == "out"  # the output directory, last
    assert "localhost: apssh WARNING - no result !" in done.stderr
    # both streams in the host's file (their order between them is the network's)
    assert sorted((tmp_path / "out" / "127.0.0.1").read_text().splitlines()) == ["err", "out"]
    assert (tmp_path / "out" / "0ok" / "127.0.0.1").read_text() == "0\n"
    assert (tmp_path / "out" / "1failed" / "localhost").read_text() == "None\n"
    # the marks are targets: run again on the hosts that succeeded
    again = apssh(*auth(servers), "-t", "out/0ok", "-L", "id", cwd=tmp_path)
    assert again.returncode == 0
    assert again.stdout.splitlines() == [f"{servers.username}@127.0.0.1"]


def test_a_failing_command_gives_exit_status_1(servers: Servers, tmp_path: Path) -> None:
    port = servers.ports[0]
    done = apssh(*auth(servers), "-t", f"127.0.0.1:{port}", "echo before; exit 3", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == "127.0.0.1:before\n"


def test_date_named_directory(servers: Servers, tmp_path: Path) -> None:
    done = apssh(*auth(servers), "-t", f"127.0.0.1:{servers.ports[0]}", "-d", "echo dated",
                 cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    name = done.stdout.strip()
    time.strptime(name, "%Y-%m-%d@%H:%M")
    assert (tmp_path / name / "127.0.0.1").read_text() == "dated\n"


def test_formats(servers: Servers, tmp_path: Path) -> None:
    target = ["-t", f"127.0.0.1:{servers.ports[0]}"]
    raw = apssh(*auth(servers), *target, "-r", "echo raw", cwd=tmp_path)
    assert raw.stdout == "raw\n"
    custom = apssh(*auth(servers), *target, "-f", "[{fqdn}] {line} %Y{nl}", "echo x",
                   cwd=tmp_path)  # fmt: skip
    assert custom.stdout == f"[127.0.0.1] x {time.strftime('%Y')}\n"
    timed = apssh(*auth(servers), *target, "-tc", "echo t", cwd=tmp_path)
    stamp, host, line = timed.stdout.strip().split(":")
    time.strptime(stamp, "%H-%M-%S")
    assert (host, line) == ("127.0.0.1", "t")


def test_gateway_option_and_arrow_targets(gateways: Servers, tmp_path: Path) -> None:
    gateway, behind = gateways.ports
    user = gateways.username
    via_option = apssh(*auth(gateways), "-g", f"127.0.0.1:{gateway}",
                       "-t", f"localhost:{behind}", "-D", "echo behind", cwd=tmp_path)  # fmt: skip
    assert via_option.returncode == 0, via_option.stderr
    assert "localhost:behind" in via_option.stdout.splitlines()
    assert f"via {user}@127.0.0.1" in via_option.stdout  # -D names each target's route
    listed = apssh(*auth(gateways), "-t", f"{user}@127.0.0.1:{gateway}->localhost:{behind}",
                   "echo arrow", cwd=tmp_path)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == "localhost:arrow\n"


def test_window_runs_targets_in_turn(servers: Servers, tmp_path: Path) -> None:
    hosts = " ".join(f"127.0.0.1:{port}" for port in servers.ports[:3])
    started = time.monotonic()
    done = apssh(*auth(servers), "-w", "1", "-t", hosts, "sleep 0.4; echo slept", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["127.0.0.1:slept"] * 3
    assert time.monotonic() - started >= 1.2  # one at a time


def test_script_mode_with_includes_and_a_script_text(servers: Servers, tmp_path: Path) -> None:
    (tmp_path / "lib.sh").write_text('greet() { echo "hello $1"; }\n')
    (tmp_path / "main.sh").write_text('#!/bin/sh\n. "$(dirname "$0")/lib.sh"\ngreet "$1"\n')
    target = ["-t", f"127.0.0.1:{servers.ports[0]}"]
    done = apssh(*auth(servers), *target, "-s", "-i", "lib.sh", "main.sh", "alice", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "127.0.0.1:hello alice\n"
    # no such local file: the first word is the script's text
    text = apssh(*auth(servers), *target, "-s", 'echo "text got $1"', "bob", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert text.stdout == "127.0.0.1:text got bob\n"


def test_verbose_shows_connection_events(servers: Servers, tmp_path: Path) -> None:
    (tmp_path / "plain.sh").write_text('#!/bin/sh\nword=plain\necho "$word $1"\n')
    done = apssh(*auth(servers), "-v", "-t", f"127.0.0.1:{servers.ports[0]}", "-s",
                 "plain.sh", "arg", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "127.0.0.1:plain arg" in done.stdout.splitlines()
    errors = done.stderr.splitlines()
    assert errors[:3] == [
        "apssh: running on 1 target(s)",
        f"127.0.0.1:Connected (direct) to {servers.username}@127.0.0.1",
        f"127.0.0.1:Authorization OK {servers.username}@127.0.0.1",
    ]
    # as apssh's -v: the script itself is not traced (bash -x is RunScript(verbose=True))
    assert not any("+ word=plain" in line for line in errors)


@pytest.mark.anyio
async def test_verbose_scripts_run_under_bash_x(servers: Servers) -> None:
    captured = CaptureFormatter(verbose=False)
    node = SshNode(servers.host, port=servers.ports[0], username=servers.username,
                   keys=[str(servers.client_key)], formatter=captured)  # fmt: skip
    body = "#!/bin/sh\nx=1\necho body $x\n"
    quiet = SshJob(node, command=RunString(body, label="quiet"))
    traced = SshJob(node, command=RunString(body, verbose=True), required=quiet)
    assert await run_closing(quiet, traced)
    lines = captured.get_capture().splitlines()
    assert lines[0] == "body 1"  # not verbose: not traced
    # stdout and the trace (stderr) come through two channels: their order may vary
    assert sorted(lines[1:]) == ["+ echo body 1", "+ x=1", "body 1"]
    assert RunScript("s.sh", "a", verbose=True).remote_line("/d/s.sh", ["a"]) == "bash -x /d/s.sh a"


def test_exclusions_listing_and_dry_run(tmp_path: Path) -> None:
    (tmp_path / ".apssh").mkdir()
    (tmp_path / ".apssh" / "lab").write_text("n1 n2 root@n3\ngw->n4\n")  # found in ~/.apssh
    common = ["-K", "-l", "me", "-t", "lab", "-x", "n2"]
    listed = apssh(*common, "-L", "id", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == ["me@n1", "root@n3", "me@n4"]
    dry = apssh(*common, "-g", "ops@bastion", "-t", "None->n5", "-n", "id", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        "apssh dry run: 1 exclusion(s)",
        "  excluded me@n2",
        "apssh dry run: 4 target(s) selected",
        "  me@n1 via ops@bastion",
        "  root@n3 via ops@bastion",
        "  me@n4 via me@gw",
        "  me@n5",
    ]


def test_usage_problems(tmp_path: Path) -> None:
    version = apssh("-V", cwd=tmp_path)
    assert (version.returncode, version.stdout) == (
        0,
        "apssh version 0.27.0 (jobgraph_ssh.compat.apssh)\n",
    )
    nothing = apssh("-K", "-t", "h", cwd=tmp_path)
    assert nothing.returncode == 1 and "give a command" in nothing.stdout
    no_target = apssh("-K", "id", cwd=tmp_path)
    assert no_target.returncode == 1 and "no target" in no_target.stdout
    no_key = apssh("-t", "h", "id", cwd=tmp_path)  # HOME has no key, no agent
    assert no_key.returncode == 1 and "could not find any usable key" in no_key.stdout
    bad = apssh("-K", "-L", "-t", "ok-host bad!host", "id", cwd=tmp_path)
    assert bad.returncode == 0
    assert bad.stdout.splitlines()[-1].endswith("@ok-host")
    assert (
        "WARNING: ignoring 'bad!host': cannot parse host 'bad!host' (in target "
        "'ok-host bad!host'): bad host name" in bad.stdout.splitlines()
    )
    not_remote = apssh("-K", "-t", "h", "file", "/tmp", cwd=tmp_path, tool="appush")
    assert not_remote.returncode == 1 and "/tmp is not remote" in not_remote.stdout


def test_appush_and_appull_round_trip(servers: Servers, tmp_path: Path) -> None:
    # the test servers' home is their start directory: give absolute remote paths
    remote = tmp_path / "remote"
    remote.mkdir()
    (tmp_path / "data.txt").write_text("payload\n")
    hosts = ["-t", f"127.0.0.1:{servers.ports[0]} localhost:{servers.ports[1]}"]
    pushed = apssh(*auth(servers), *hosts, "data.txt", f"@:{remote}/{{host}}.txt",
                   cwd=tmp_path, tool="appush")  # fmt: skip
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert sorted(path.name for path in remote.iterdir()) == ["127.0.0.1.txt", "localhost.txt"]
    (tmp_path / "back").mkdir()
    pulled = apssh(*auth(servers), *hosts, f"@:{remote}/{{host}}.txt", "back/",
                   cwd=tmp_path, tool="appull")  # fmt: skip
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert (tmp_path / "back" / "localhost.txt").read_text() == "payload\n"
    assert (tmp_path / "back" / "127.0.0.1.txt").read_text() == "payload\n"


def test_apssh_object_in_process(
    servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As apssh's own tests use it: ``Apssh().main(*argv)``, then its ``proxies``."""
    monkeypatch.chdir(tmp_path)
    tool = Apssh()
    status = tool.main(*auth(servers), "-t", f"127.0.0.1:{servers.ports[0]}", "-o", "o", "true")
    assert status == 0
    (proxy,) = tool.proxies
    assert (proxy.hostname, proxy.username, proxy.port, proxy.gateway) == (
        "127.0.0.1", servers.username, servers.ports[0], None,
    )  # fmt: skip
    assert repr(tool) == f"{servers.username}@127.0.0.1"
    assert Targets().hop("a@g→b", "test").gateway is not None
