"""Hard dependencies are what the core imports; a missing extra gives a clear error."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import pytest

import jobgraph as jg


async def _value() -> int:
    return 1


def test_missing_trio_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "trio", None)  # as if it were not installed
    scheduler = jg.Scheduler(jg.Job(_value))
    with pytest.raises(jg.MissingDependencyError, match=r"pip install 'jobgraph\[trio\]'"):
        jg.run(scheduler, backend="trio")
    assert scheduler.state is jg.JobState.IDLE  # refused before anything ran
    assert jg.run(scheduler, backend="asyncio")


def test_missing_rich_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rich.console", None)
    scheduler = jg.Scheduler(jg.Job(_value))
    with pytest.raises(jg.MissingDependencyError, match=r"pip install 'jobgraph\[progress\]'"):
        jg.run(scheduler, progress=True)
    with pytest.raises(ImportError, match=r"jobgraph\[progress\]"):
        jg.Progress(scheduler)
    assert scheduler.state is jg.JobState.IDLE


def test_missing_pydot_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pydot", None)
    scheduler = jg.Scheduler(jg.Job(_value))
    with pytest.raises(jg.MissingDependencyError, match=r"pip install 'jobgraph\[graph\]'"):
        scheduler.graph()
    assert scheduler.dot_format().startswith("digraph")  # DOT text needs no pydot


def test_missing_dependency_error_is_a_jobgraph_error_and_an_import_error() -> None:
    error = jg.MissingDependencyError("jobgraph.Progress", "rich", "progress")
    assert isinstance(error, jg.JobGraphError)
    assert isinstance(error, ImportError)
    assert error.name == "rich"
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error)
    assert (copy.package, copy.extra) == ("rich", "progress")


def test_core_runs_without_trio_and_rich() -> None:
    # a fresh interpreter in which trio and rich cannot be imported at all
    script = textwrap.dedent(
        """
        import sys
        for name in ("trio", "rich"):
            sys.modules[name] = None
        import jobgraph as jg
        import jobgraph.lowlevel, jobgraph.views, jobgraph.services, jobgraph.compat

        async def one():
            return 1

        s = jg.Scheduler(jg.Job(one, label="a"))
        assert jg.run(s)
        assert "a" in s.list_text()
        try:
            jg.run(s.reset(), backend="trio")
        except jg.MissingDependencyError as exc:
            print(exc)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("trio", "rich"))
        print("loaded:", [m for m in loaded if sys.modules[m] is not None])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'jobgraph[trio]'" in done.stdout
    assert "loaded: []" in done.stdout
