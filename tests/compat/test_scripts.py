"""Scripts written for asynciojobs run on jobgraph with only their import line changed.

Each script in ``scripts/`` is run in a subprocess; its output is checked, and when
asynciojobs is installed the same script with the original import must print the
same thing (wall-clock timestamps aside).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parent / "scripts"
SRC = Path(__file__).parents[2] / "src"
COMPAT_IMPORT = "from jobgraph.compat.asynciojobs import"
ORIGINAL_IMPORT = "from asynciojobs import"
CLOCK = re.compile(r"\b\d\d:\d\d:\d\d\.\d\d\d\b")


def run_script(path: Path) -> str:
    completed = subprocess.run(
        [sys.executable, "-W", "error", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        # this checkout's sources, not whichever jobgraph the interpreter has installed
        env={"PYTHONIOENCODING": "utf-8", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(SRC)},
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    return CLOCK.sub("HH:MM:SS.mmm", completed.stdout)


def as_original(path: Path, tmp_path: Path) -> Path:
    text = path.read_text()
    assert text.count(COMPAT_IMPORT) == 1
    original = tmp_path / path.name
    original.write_text(text.replace(COMPAT_IMPORT, ORIGINAL_IMPORT))
    return original


def test_monitored_pipeline_prints_the_expected_story() -> None:
    out = run_script(SCRIPTS / "monitored_pipeline.py").splitlines()
    assert out[0] == "Scheduler with 0 done + 0 ongoing + 5 idle = 5 job(s)"
    assert [line for line in out if line.startswith("MONITOR:")] == [
        "MONITOR: start prepare",
        "MONITOR: end prepare",
        "MONITOR: check is about to fail",
        "MONITOR: start report",
        "MONITOR: end report",
    ]
    assert "run() returned True - FINE" in out
    assert (
        "check: done=True running=True result=None "
        "exception=RuntimeError('checksum mismatch')" in out
    )
    assert "monitor: done=False running=True" in out
    assert "downloads result: True [0, 1, 4, 9]" in out
    assert "whole run took between 0.3s and 1s: True" in out
    assert out[-1] == "4D + 1R + 0I = 5"


def test_remote_commands_prints_the_expected_story() -> None:
    out = run_script(SCRIPTS / "remote_commands.py").splitlines()
    assert "deploy raised: 'apt install nginx' failed on node1 with 100" in out
    assert (
        "HH:MM:SS.mmm SCHEDULER 2D + 0R + 1I = 3: Emergency exit upon exception in critical job"
        in out
    )
    assert "⚠   ⚐   <Command `node1: systemctl start nginx`> [not done] requires={2}" in out
    assert "backup result: False / timed out: True / why: TIMED OUT after 0.1s" in out
    assert "cleanup result: 0" in out
    assert "top raised a TimeoutError" in out
    assert "pure.run(): False / a CRITICAL job has raised an exception / 1D + 0R + 0I = 1" in out
    assert "standalone: 0" in out
    assert out[-2:] == [
        "again.run(): True",
        "closed: ['node3', 'node3', 'node3', 'node4', 'node5', 'node6']",
    ]


@pytest.mark.skipif(
    importlib.util.find_spec("asynciojobs") is None, reason="asynciojobs is not installed"
)
@pytest.mark.parametrize(
    "name", ["monitored_pipeline.py", "remote_commands.py", "verbose_outer.py"]
)
def test_script_prints_the_same_as_with_asynciojobs(name: str, tmp_path: Path) -> None:
    ours = run_script(SCRIPTS / name)
    theirs = run_script(as_original(SCRIPTS / name, tmp_path))
    assert ours == theirs
