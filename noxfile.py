"""Developer sessions: ``nox -s tests lint typecheck``; ``docs``, ``latest``, ``bench`` and
``soak`` on demand.

``tests`` installs the exact versions of requirements/dev.lock, as scripts/setup.sh and CI
do; ``latest`` installs the newest releases that pyproject.toml allows, without the lock,
which is what ``pip install jobgraph[...]`` gives a user today: run it before refreshing
the lock (``bash scripts/lock.sh``) and before a release (docs/contributing.md).
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.default_venv_backend = "venv"

PYTHON = "3.11"
LOCK = "requirements/dev.lock"


def install_locked(session: nox.Session) -> None:
    """The locked versions, hash-checked, then jobgraph itself (editable)."""
    session.install("--require-hashes", "--no-deps", "-r", LOCK)
    session.install("--no-deps", "--no-build-isolation", "-e", ".")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole test suite, both backends (HYPOTHESIS profile: dev), on the locked versions."""
    install_locked(session)
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python=PYTHON)
def latest(session: nox.Session) -> None:
    """The whole test suite on the newest releases pyproject.toml allows (no lock): the drift
    a user installing today would meet, caught before they do."""
    session.install("--upgrade", "--upgrade-strategy", "eager", "-e", ".[dev]")
    session.run("python", "-m", "pip", "list", "--format=freeze", silent=False)
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    install_locked(session)  # the locked ruff: its rules do not change under us
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over src and tests."""
    install_locked(session)
    session.run("mypy")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The documentation site, warnings as errors, into docs/_build/html (offline; set
    JOBGRAPH_DOCS_ONLINE=1 to link Python, anyio, trio... names through intersphinx)."""
    # the reference imports every package, jobgraph.dask included
    session.install("-e", ".[all,docs]")
    session.run(
        "python",
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-b",
        "html",
        "docs",
        "docs/_build/html",
        *session.posargs,
    )


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Engine benchmark against the floor and asynciojobs (pass sizes etc. after --)."""
    session.install("-e", ".[dev,bench]")
    session.run("python", "benchmarks/bench_engine.py", *session.posargs)


@nox.session(python=PYTHON)
def soak(session: nox.Session) -> None:
    """The property-based harness with the soak profile (>= 10 000 graphs per backend)."""
    session.install("-e", ".[dev]")
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/harness/test_properties.py",
        "tests/harness/test_service_calls.py",
        "--timeout=0",
        "-q",
        "--hypothesis-show-statistics",
        *session.posargs,
        env={"JOBGRAPH_HYPOTHESIS_PROFILE": "soak"},
    )
