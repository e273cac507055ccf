"""What a user installing jobgraph meets before any job runs.

- The library is quiet: importing ``jobgraph_ssh`` (and the apssh drop-in) and running
  ``jobgraph-ssh`` write nothing on stderr under ``-W default``, with today's releases of
  its dependencies (cryptography deprecates DSA, which asyncssh names at import), and the
  user's warning filters are left as they were.
- Installed without an extra, each optional part says which extra installs it
  (``MissingDependencyError``), and the command says it on one line, exit 2.
- The floors of pyproject.toml that were chosen for safety hold, and the lock that setup
  installs satisfies every requirement of pyproject.toml.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.cli.conftest import console_script

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCK = ROOT / "requirements" / "dev.lock"
TIMEOUT = 60


def run_python(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PYTHONWARNINGS", None)
    if env and "PYTHONWARNINGS" in env:
        full_env["PYTHONWARNINGS"] = env["PYTHONWARNINGS"]
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=TIMEOUT,
        check=False,
    )


# ---------------------------------------------------------------- quiet on stderr


@pytest.mark.parametrize(
    "module",
    [
        "jobgraph_ssh",
        "jobgraph_ssh.cli",
        "jobgraph_ssh.compat.apssh",
        "jobgraph",
        "jobgraph_ssh.testing",
    ],
)
def test_importing_writes_nothing_on_stderr(module: str) -> None:
    done = run_python("-W", "default", "-c", f"import {module}")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_the_command_writes_nothing_on_stderr(tmp_path: Path) -> None:
    script = console_script(tmp_path)
    for option in ("--help", "--version"):
        done = subprocess.run(
            [str(script), option],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "default"},
            timeout=TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "jobgraph-ssh" in done.stdout
        assert done.stderr == ""


def test_the_apssh_drop_in_command_writes_nothing_on_stderr() -> None:
    done = run_python("-W", "default", "-m", "jobgraph_ssh.compat.apssh", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_the_users_warning_filters_are_left_as_they_were() -> None:
    script = (
        "import warnings\n"
        "warnings.simplefilter('always')\n"
        "before = list(warnings.filters)\n"
        "import jobgraph_ssh\n"
        "assert warnings.filters == before, (warnings.filters[:3], before[:3])\n"
        "print('same')\n"
    )
    done = run_python("-c", script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "same"


# ---------------------------------------------------------------- missing extras


BLOCKED = [
    # (what the user imports, the package missing, the extra that installs it)
    ("jobgraph_ssh", "asyncssh", "ssh"),
    ("jobgraph_ssh", "jinja2", "ssh"),
    ("jobgraph_ssh.compat.apssh", "asyncssh", "ssh"),
    ("jobgraph.testing", "hypothesis", "testing"),
    ("jobgraph_ssh.testing", "hypothesis", "testing"),
    ("jobgraph.dask", "cloudpickle", "dask"),
    ("jobgraph.dask", "distributed", "dask"),
]


def blocker(directory: Path, *packages: str) -> dict[str, str]:
    """An environment in which ``packages`` cannot be imported, as if not installed: a
    ``sitecustomize`` that maps them to None in ``sys.modules``."""
    directory.mkdir(exist_ok=True)
    lines = ["import sys"] + [f"sys.modules[{name!r}] = None" for name in packages]
    (directory / "sitecustomize.py").write_text("\n".join(lines) + "\n")
    path = [str(directory), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    return {"PYTHONPATH": os.pathsep.join(p for p in path if p)}


@pytest.mark.parametrize(("module", "package", "extra"), BLOCKED)
def test_a_part_installed_without_its_extra_names_it(
    tmp_path: Path, module: str, package: str, extra: str
) -> None:
    script = (
        "import jobgraph\n"
        "try:\n"
        f"    import {module}\n"
        "except jobgraph.MissingDependencyError as exc:\n"
        "    print(type(exc).__name__, exc.package, exc.extra, isinstance(exc, ImportError))\n"
        "    print(exc)\n"
    )
    done = run_python("-c", script, env=blocker(tmp_path / "site", package))
    assert done.returncode == 0, done.stderr
    first, message = done.stdout.splitlines()
    assert first == f"MissingDependencyError {package} {extra} True"
    assert f"pip install 'jobgraph[{extra}]'" in message


def test_the_command_without_the_ssh_extra_says_so_on_one_line(tmp_path: Path) -> None:
    script = console_script(tmp_path)
    done = subprocess.run(
        [str(script), "-t", "127.0.0.1", "true"],
        capture_output=True,
        text=True,
        env={**os.environ, **blocker(tmp_path / "site", "asyncssh")},
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    expected = (
        "jobgraph-ssh: jobgraph_ssh needs the 'asyncssh' package, which is not installed: "
        "pip install 'jobgraph[ssh]'"
    )
    assert done.stderr.splitlines() == [expected]


# ---------------------------------------------------------------- floors and the lock


def requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    found = [Requirement(line) for line in project["dependencies"]]
    for lines in project["optional-dependencies"].values():
        found.extend(Requirement(line) for line in lines)
    return [req for req in found if req.name != "jobgraph"]


def locked() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in LOCK.read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, _, version = line.split(" ")[0].partition("==")
            pins[name.lower().replace("_", "-")] = Version(version.split(";")[0])
    return pins


def test_asyncssh_floor_refuses_the_releases_that_trust_sftp_names() -> None:
    (ssh,) = [req for req in requirements() if req.name == "asyncssh"]
    assert not ssh.specifier.contains("2.24.0")
    assert ssh.specifier.contains("2.24.1")


def test_the_lock_satisfies_every_requirement_of_pyproject() -> None:
    pins = locked()
    dev = {
        Requirement(line).name
        for line in PYPROJECT["project"]["optional-dependencies"]["dev"]
        if not line.startswith("jobgraph")
    }
    for req in requirements():
        name = req.name.lower().replace("_", "-")
        if name not in pins:
            # only the bench extra is left out of the dev lock
            assert name not in dev, f"{req} is a dev requirement missing from {LOCK.name}"
            continue
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{LOCK.name} pins {name}=={pins[name]}, outside pyproject's {req}"
        )


def test_every_line_of_the_lock_is_pinned_and_hashed() -> None:
    text = LOCK.read_text()
    blocks = [block for block in text.split("\n") if block and not block.startswith(" ")]
    pinned = [line for line in blocks if not line.startswith("#")]
    assert pinned, "the lock is empty"
    for line in pinned:
        assert "==" in line and line.rstrip().endswith("\\"), f"not pinned with hashes: {line}"
