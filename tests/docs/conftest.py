"""The documentation site, built once per test session (sphinx-build -W, html)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


@dataclass(frozen=True)
class Build:
    out: Path
    returncode: int
    warnings: str


@pytest.fixture(scope="session")
def docs_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """``sphinx-build -W --keep-going -b html docs OUT``, in a fresh interpreter that
    imports this checkout's code; warnings go to their own file."""
    pytest.importorskip("sphinx", reason="the docs extra is not installed (pip install -e .[docs])")
    out = tmp_path_factory.mktemp("docs-html")
    warnings = out.parent / "warnings.txt"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("JOBGRAPH_DOCS_ONLINE", None)  # the checks build offline, like CI
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-w",
            str(warnings),
            str(DOCS),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
        cwd=ROOT,
    )
    return Build(out, done.returncode, warnings.read_text(encoding="utf-8") + done.stderr)
