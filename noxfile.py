"""Developer sessions: ``nox -s tests lint typecheck``; ``docs``, ``bench`` and ``soak`` on
demand."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.default_venv_backend = "venv"

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole test suite, both backends (HYPOTHESIS profile: dev)."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.install("ruff>=0.8")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over src and tests."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The documentation site, warnings as errors, into docs/_build/html (offline; set
    JOBGRAPH_DOCS_ONLINE=1 to link Python, anyio, trio... names through intersphinx)."""
    session.install("-e", ".[docs,graph,testing,ssh]")  # the reference imports every package
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
