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
    foreign: Path  # "inventory name role" lines: the other projects' names left unlinked


def build_site(out: Path, **variables: str) -> Build:
    """``sphinx-build -W --keep-going -b html docs OUT``, in a fresh interpreter that
    imports this checkout's code, offline (no ``JOBGRAPH_DOCS_*`` variable but those
    given); warnings go to their own file, and the names of other projects left
    unlinked to ``foreign.txt``, both beside OUT."""
    warnings = out.with_name(out.name + "-warnings.txt")
    foreign = out.with_name(out.name + "-foreign.txt")
    env = {
        name: value for name, value in os.environ.items() if not name.startswith("JOBGRAPH_DOCS_")
    }
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    env["JOBGRAPH_DOCS_FOREIGN_LOG"] = str(foreign)
    env.update(variables)
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    done = subprocess.run(
        [*command, "-w", str(warnings), str(DOCS), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
        cwd=ROOT,
    )
    foreign.touch()
    return Build(out, done.returncode, warnings.read_text(encoding="utf-8") + done.stderr, foreign)


@pytest.fixture(scope="session")
def docs_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The site as CI builds it: offline, so other projects' names are code text."""
    pytest.importorskip("sphinx", reason="the docs extra is not installed (pip install -e .[docs])")
    return build_site(tmp_path_factory.mktemp("docs-html"))
