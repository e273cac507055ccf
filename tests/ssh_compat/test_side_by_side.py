"""Scripts of the kind apssh users write, run on apssh 0.27 + asynciojobs 0.21.3 and on
the drop-ins, only their imports changed: what the user sees must be the same.

Each script in ``scripts/`` runs twice as a subprocess against the loopback servers
of ``tests/ssh`` (see :func:`tests.ssh_compat.test_scripts.run_script`). Compared:
the exit status, stdout and stderr, and the files the script leaves behind. Only
timestamps and ports are normalised, plus the one difference documented in
``docs/migrating.md`` that shows in output: the remote path of a staged script
(``.apssh-remote/<fresh directory>/<name>``, removed afterwards, where apssh writes
``.apssh-remote/<name>-<random>`` and leaves it). Lines of jobs that run at the same
time come in any order, on either package: where a script runs jobs concurrently,
lines are compared as sorted lists. Jobs' numbers in listings are replaced by ``N``:
asynciojobs numbers jobs in the order of a set of objects, which changes from run to
run.

Without apssh installed, the tests are skipped (they are about the original).
"""

from __future__ import annotations

import difflib
import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.ssh.conftest import Servers

from .test_scripts import HAVE_APSSH, run_script

pytestmark = pytest.mark.skipif(not HAVE_APSSH, reason="apssh 0.27 is not installed")

TIME = re.compile(r"\b\d\d[:-]\d\d[:-]\d\d(\.\d{3})?\b")
STAGED = re.compile(r"\.apssh-remote/\S+")
# apssh's own chatter, not from the user's script: keys looked up in an agent that is
# not there (for nodes made without keys)
CHATTER = ("When fetching agent keys",)


NUMBERS = (
    (re.compile(r"^(?:> )?\d+(?=[ :])", re.MULTILINE), "N"),  # a listing's first column
    (re.compile(r"(STARTING|DONE    |RAISED EXC\.|ABORTING): \d+ "), r"\1: N "),
    (re.compile(r"(requires|entries|exits)=\{[\d, ]+\}"), r"\1={N}"),
)


def normalised(text: str, ports: list[int]) -> list[str]:
    """The lines of ``text``, timestamps, ports, job numbers and staged script paths
    replaced."""
    text = TIME.sub("TIME", text)
    text = STAGED.sub(".apssh-remote/SCRIPT", text)
    for pattern, replacement in NUMBERS:
        text = pattern.sub(replacement, text)
    for index, port in enumerate(ports):
        text = re.sub(rf"\b{port}\b", f"PORT{index}", text)
    return [line for line in text.splitlines() if not line.startswith(CHATTER)]


def dot_labels(text: str) -> list[str]:
    """The labels of a DOT file's boxes and clusters, line breaks made real: the
    drawing, whatever the DOT text around it (see docs/migrating.md)."""
    labels = re.findall(r'label="((?:[^"\\]|\\.)*)"', text, flags=re.DOTALL)
    return sorted(re.sub(r"^\d+:", "N:", label.replace("\\n", "\n")) for label in labels)


def files(directory: Path) -> dict[str, str]:
    """What the script left in its directory (itself and its template apart)."""
    return {
        str(path.relative_to(directory)): path.read_text()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.suffix not in (".py", ".j2")
    }


def side_by_side(
    name: str,
    servers: Servers,
    tmp_path: Path,
    *args: str,
    ordered: bool = True,
    ports: list[int] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run ``scripts/name`` on both packages; assert they show the same; return the
    drop-in's run and the files it left."""
    ports = ports if ports is not None else list(servers.ports)
    # cryptography's warning when asyncssh is imported (the drop-in imports it quietly)
    env = {**(env or {}), "PYTHONWARNINGS": "ignore:DSA is deprecated"}
    ours = run_script(name, servers, tmp_path, args=args, env=env)
    theirs = run_script(name, servers, tmp_path, original=True, args=args, env=env)
    where = f"{name} {' '.join(args)}"
    assert ours.returncode == theirs.returncode, f"{where}\n{ours.stderr}\n{theirs.stderr}"
    for stream in ("stdout", "stderr"):
        mine = normalised(getattr(ours, stream), ports)
        original = normalised(getattr(theirs, stream), ports)
        if not ordered:
            mine, original = sorted(mine), sorted(original)
        diff = "\n".join(difflib.unified_diff(original, mine, "apssh", "drop-in", lineterm=""))
        assert mine == original, f"{where}: {stream} differs\n{diff}"
    left, right = files(tmp_path / "compat"), files(tmp_path / "original")
    assert sorted(left) == sorted(right), f"{where}: not the same files"
    for path, text in left.items():
        if path.endswith(".dot"):
            assert dot_labels(text) == dot_labels(right[path]), f"{where}: {path}"
        else:
            assert normalised(text, ports) == normalised(right[path], ports), f"{where}: {path}"
    return ours, left


@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
def test_testbed_shows_the_same(gateways: Servers, tmp_path: Path, verbose: bool) -> None:
    args = ("-v",) if verbose else ()
    ours, left = side_by_side("testbed.py", gateways, tmp_path, *args, ordered=False)
    out = ours.stdout.splitlines()
    # listings: the local node, command labels and results as apssh shows them
    assert "2: LOCALUSER@LOCALNODE" in out
    assert "RunScript: setup.sh n0" in out
    assert "RunString: echo from a str... x" in out
    assert "Push: data.txt onto ." in out
    assert "Pull: data.txt into pulled" in out
    assert "1 ⚠   ⚐   <SshJob `echo gateway up`>  " in out  # nothing before it runs
    assert any(line.endswith("<SshJob `echo gateway up`> OK ") for line in out)
    assert "LOCALNODE:local prep" in out
    assert "captured 'kept\\n'" in out  # stdout kept, stderr printed
    assert "told" in ours.stderr.splitlines()
    # failed commands in listings, and the message naming the node through its gateway
    assert "1   ☉ ☓   <SshJob `exit 4.. + 1`> Ignr[1]:exit 4->4 " in out
    assert "1 ⚠ ★ ☓   <SshJob `echo before.. + 1`> !Crit![2]:exit 5->5 " in out
    who = f"{gateways.username}@127.0.0.1"
    assert f"CommandFailedError command exit 5 returned 5 on node {who}->{who}" in out
    assert "LOCALNODE:to stderr" in ours.stderr.splitlines()
    assert left["pulled"] == "some data\n"
    assert "LOCALUSER@LOCALNODE" in left["testbed.dot"]
    errors = ours.stderr.splitlines()
    if verbose:
        assert f"{who}:========== Connecting (direct) to {who}" in errors
        assert f"{who}:========== Authorization OK {who}" in errors
        assert "127.0.0.1:========== Session started for echo gateway up" in errors
        assert "127.0.0.1:========== Session ended for cat data.txt" in errors
        assert "127.0.0.1:========== SFTP subsystem started" in errors
        # verbose commands (SshJob(verbose=True)), here and remote
        assert "LOCALNODE:Run: -> echo local prep" in errors
        assert "LOCALNODE:Run: 0 <- echo local prep" in errors
        assert "127.0.0.1:Push: localpaths=['data.txt'], remotepath=." in errors
        assert "127.0.0.1:Pull done" in errors
        assert "127.0.0.1:RunLocalStuff: -> bash -x .apssh-remote/SCRIPT n0" in normalised(
            ours.stderr, []
        )
        assert "127.0.0.1:+ echo setup n0 done" in errors  # bash -x, as apssh
        starting = [line for line in out if " STARTING: " in line]
        assert starting and all("\u2690" in line for line in starting)  # idle flag
    # closed quietly at exit: nothing after the script's last line
    assert not any("Connection closed" in line for line in errors)


def test_a_node_that_is_off(servers: Servers, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        off = sock.getsockname()[1]
    ours, _ = side_by_side(
        "node_off.py",
        servers,
        tmp_path,
        ports=[*servers.ports, off],
        env={"APSSH_OFF_PORT": str(off)},
    )
    caught = [line for line in ours.stdout.splitlines() if "Error" in line]
    # behind a gateway: asyncssh's ChannelOpenError; direct: the OS's error
    assert caught[0].startswith("asyncssh.Error ChannelOpenError ")
    assert caught[1].startswith("asyncssh.Error PermissionDenied ")
    assert caught[2].startswith("OSError ConnectionRefusedError ")
    who = f"{servers.username}@127.0.0.1"
    assert f"127.0.0.1:Cannot open channel to {who}" in ours.stderr.splitlines()
    assert f"Connection failed to {who} : Permission denied for user" in ours.stderr


def test_debug_traces(servers: Servers, tmp_path: Path) -> None:
    ours, left = side_by_side("debug_node.py", servers, tmp_path)
    errors = ours.stderr.splitlines()
    assert errors[0].startswith("127.0.0.1:SSH direct connecting ((from:<SshNode ")
    assert "BS 127.0.0.1 DR: -> one" in errors
    assert any(line.startswith("127.0.0.1:STATUS = 3 ((from:") for line in errors)
    assert left["back"] == "sent\n"


def test_yaml_verbose_false_and_save_intermediate(servers: Servers, tmp_path: Path) -> None:
    ours, left = side_by_side("yaml_demo.py", servers, tmp_path)
    assert ours.stdout.splitlines()[:3] == [
        "save_intermediate: (over)wrote plain YAML demo.yaml",
        "WARNING: no formatter specified for root@127.0.0.1",  # as apssh's YamlLoader
        "WARNING: no formatter specified for root@127.0.0.1",
    ]
    assert left["demo.yaml"].startswith(
        "\n# WARNING: this file was produced automatically - DO NOT EDIT !\n"
        "# see demo.yaml.j2 instead\n#\n"
    )
    # as apssh 0.27: 'verbose: false' does not reach the formatter
    assert "========== Connecting (direct) to" in ours.stderr
