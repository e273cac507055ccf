"""Realistic apssh scripts run as subprocesses, unchanged but for their imports.

Each script in ``scripts/`` imports ``jobgraph.compat.asynciojobs`` and
``jobgraph_ssh.compat.apssh``; it takes the servers' address, ports, user and key
from the environment. It runs against the loopback servers of ``tests/ssh``; when
the original apssh 0.27 is installed, the same script, its imports turned back into
``asynciojobs`` and ``apssh``, runs too and both outputs (normalized: line order
where jobs run concurrently) and exit statuses must match.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import jobgraph_ssh
from tests.ssh.conftest import ClientKey, Servers, start_asyncssh

SCRIPTS = Path(__file__).with_name("scripts")
# the sources this test imports (a mutated copy too: scripts/mutants.py)
SRC = Path(jobgraph_ssh.__file__).resolve().parents[1]
HAVE_APSSH = importlib.util.find_spec("apssh") is not None

SYSTEMD_RUN = """#!/bin/sh
# test shim of systemd-run: runs the command in its own session, in the background
here=$(dirname "$0")
unit=
while [ $# -gt 0 ]; do
    case "$1" in
        --unit=*) unit=${1#--unit=} ;;
        --setenv=*) export "${1#--setenv=}" ;;
        --setenv) shift; export "$1" ;;
        --pty|-t|--service-type=*|-p|--property=*) ;;
        -*) echo "systemd-run shim: unknown option $1" >&2; exit 1 ;;
        *) break ;;
    esac
    shift
done
[ -n "$unit" ] || { echo "systemd-run shim: no --unit" >&2; exit 1; }
setsid "$@" >"$here/$unit.log" 2>&1 </dev/null &
echo $! > "$here/$unit.pid"
echo "Running as unit: $unit.service"
"""

SYSTEMCTL = """#!/bin/sh
# test shim of systemctl: the units that the systemd-run shim started
here=$(dirname "$0")
unit=${2%.service}
pidfile="$here/$unit.pid"
running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
case "$1" in
    is-active) if running; then echo active; exit 0; else echo inactive; exit 3; fi ;;
    stop) running && kill -- "-$(cat "$pidfile")"; rm -f "$pidfile"; exit 0 ;;
    reset-failed) exit 0 ;;
    status)
        echo "* $unit.service"
        echo "   Loaded: loaded (/run/systemd/transient/$unit.service; transient)"
        if running; then echo "   Active: active (running)"; exit 0; fi
        echo "   Active: inactive (dead)"; exit 3 ;;
    *) echo "systemctl shim: $1 is not supported" >&2; exit 1 ;;
esac
"""


JOURNALCTL = """#!/bin/sh
# test shim of journalctl: what a unit started by the systemd-run shim wrote
here=$(dirname "$0")
unit=
while [ $# -gt 0 ]; do
    case "$1" in
        --unit) shift; unit=${1%.service} ;;
        --unit=*) unit=${1#--unit=}; unit=${unit%.service} ;;
        --since) shift ;;
    esac
    shift
done
cat "$here/$unit.log" 2>/dev/null
"""

SHIMS = {"systemd-run": SYSTEMD_RUN, "systemctl": SYSTEMCTL, "journalctl": JOURNALCTL}


@pytest.fixture(scope="module")
def shimmed(tmp_path_factory: pytest.TempPathFactory, client_key: ClientKey) -> Iterator[Servers]:
    """A loopback host whose PATH starts with shims of systemd-run and systemctl."""
    shims = tmp_path_factory.mktemp("shims")
    for name, text in SHIMS.items():
        (shims / name).write_text(text)
        (shims / name).chmod(0o755)
    saved = os.environ["PATH"]
    os.environ["PATH"] = f"{shims}:{saved}"
    try:
        running = start_asyncssh(tmp_path_factory.mktemp("service-host"), client_key, hosts=1)
        servers = running.__enter__()
    finally:
        os.environ["PATH"] = saved
    try:
        yield servers
    finally:
        for pidfile in shims.glob("*.pid"):  # a service a failed test left running
            subprocess.run(["kill", "--", f"-{pidfile.read_text().strip()}"], check=False)
        running.__exit__(None, None, None)


def run_script(
    name: str, servers: Servers, tmp_path: Path, *, original: bool = False, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    text = (SCRIPTS / name).read_text()
    if original:
        text = text.replace("jobgraph.compat.asynciojobs", "asynciojobs").replace(
            "jobgraph_ssh.compat.apssh", "apssh"
        )
    script = tmp_path / ("original" if original else "compat") / name
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(text)
    for extra in SCRIPTS.glob("*.j2"):
        (script.parent / extra.name).write_text(extra.read_text())
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "APSSH_HOST": servers.host,
        "APSSH_PORTS": ",".join(map(str, servers.ports)),
        "APSSH_KEY": str(servers.client_key),
        "APSSH_USER": servers.username,
        "SSH_AUTH_SOCK": "",
    }
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        cwd=script.parent,
        timeout=timeout,
        check=False,
    )


def compare(
    name: str, servers: Servers, tmp_path: Path, *, ordered: bool = True, original: bool = True
) -> list[str]:
    """Run the script on the compat layer (it must succeed), and on apssh if installed;
    return the compat run's stdout lines."""
    ours = run_script(name, servers, tmp_path)
    assert ours.returncode == 0, f"{name} failed:\n{ours.stdout}\n{ours.stderr}"
    lines = ours.stdout.splitlines()
    if HAVE_APSSH and original:
        theirs = run_script(name, servers, tmp_path, original=True)
        assert theirs.returncode == ours.returncode, theirs.stderr
        # apssh's own chatter on stdout: no SSH agent found (for nodes made without
        # keys), and its YamlLoader's nodes made before their formatter is set
        chatter = ("When fetching agent keys", "WARNING: no formatter specified")
        expected = [line for line in theirs.stdout.splitlines() if not line.startswith(chatter)]
        if ordered:
            assert lines == expected
        else:
            assert sorted(lines) == sorted(expected)
    return lines


def test_fanout_with_a_window(servers: Servers, tmp_path: Path) -> None:
    lines = compare("fanout.py", servers, tmp_path, ordered=False)
    for index, port in enumerate(servers.ports):
        assert f"127.0.0.1:job {index} on port {port}" in lines
        assert f"127.0.0.1:slept {index}" in lines
    assert lines.count("127.0.0.1:GLOBBED: *.NONE") == len(servers.ports)  # not quoted
    assert "127.0.0.1:after" in lines  # a non-critical job runs on after a failure
    assert lines[-3:] == ["ok True", "failing result 3", "windowed True"]


def test_gateway(gateways: Servers, tmp_path: Path) -> None:
    lines = compare("gateway.py", gateways, tmp_path)
    assert lines == [
        "distances 1 2",
        "edges 2",
        "127.0.0.1:on the gateway",
        "127.0.0.1:behind the gateway",
        "127.0.0.1:42",
        "ok True",
    ]


def test_run_script_with_includes(servers: Servers, tmp_path: Path) -> None:
    lines = compare("scripts_and_includes.py", servers, tmp_path)
    assert lines == [
        "hello alice",
        "hello bob",
        "hello carol",
        "3 args: 0 two words",
        "1 args: 5",
        "ok True",
    ]


def test_capture_and_deferred(servers: Servers, tmp_path: Path) -> None:
    lines = compare("capture_deferred.py", servers, tmp_path)
    assert lines[0] == "variables pod-1234 6 x 7"
    # a captured command's output goes to its variable, not to the formatter
    assert lines[1] == "capture 'the pod is pod-1234\\nPOD-1234 and 6 x 7\\n'"
    assert lines[2] == "ok True"


def test_service_through_systemd_run(shimmed: Servers, tmp_path: Path) -> None:
    # apssh's start command silences systemctl with bash's ">&", which a POSIX login
    # shell (here /bin/sh) refuses: apssh fails there, so no side-by-side run
    lines = compare("service.py", shimmed, tmp_path, original=False)
    assert "127.0.0.1:Running as unit: demo-sleep.service" in lines
    assert "127.0.0.1:started as tester" in lines  # environ reached the service
    assert "127.0.0.1:   Active: active (running)" in lines  # from status.txt
    assert (
        "127.0.0.1:   Loaded: loaded (/run/systemd/transient/demo-sleep.service; transient)"
        in lines
    )
    assert lines[-2:] == ["127.0.0.1:   Active: inactive (dead)", "ok True"]


def test_push_pull_round_trip(servers: Servers, tmp_path: Path) -> None:
    lines = compare("push_pull.py", servers, tmp_path)
    assert lines == [
        "127.0.0.1:big.bin",
        "127.0.0.1:small.txt",
        "ok True",
        "small.txt same",
        "big.bin same",
    ]


def test_subdir_formatter_files(servers: Servers, tmp_path: Path) -> None:
    lines = compare("subdir.py", servers, tmp_path)
    first, second = servers.ports[:2]
    assert lines == [
        "ok True",
        "127.0.0.1 "
        + str(
            sorted(
                [
                    f"one from {first}",
                    f"two from {first}",
                    f"one from {second}",
                    f"two from {second}",
                ]
            )
        ),
    ]


def test_yaml_scenario(servers: Servers, tmp_path: Path) -> None:
    lines = compare("yaml_scenario.py", servers, tmp_path)
    assert lines == [
        "jobs ['hello', 'last', 'script']",
        "label say hello",
        "127.0.0.1:hello from yaml",
        "127.0.0.1:script got a b",
        "127.0.0.1:done yaml",
        "127.0.0.1:last",
        "ok True",
    ]


def test_closing_after_a_synchronous_run_is_prompt(gateways: Servers, tmp_path: Path) -> None:
    """apssh waits 30 s per gateway level there (its connections belong to the
    finished run's event loop); the compat layer's are closed when that loop ends."""
    ours = run_script("sync_close.py", gateways, tmp_path)
    assert ours.returncode == 0, ours.stderr
    lines = ours.stdout.splitlines()
    assert lines[:3] == [
        "127.0.0.1:direct",
        "127.0.0.1:through sftp and gateway",
        "ok True",
    ]
    assert lines[3] in ("closed in 0.0 s", "closed in 0.1 s")
    if HAVE_APSSH:
        with pytest.raises(subprocess.TimeoutExpired):
            run_script("sync_close.py", gateways, tmp_path, original=True, timeout=10)
