"""The view methods of Scheduler and AbstractJob (``s.list_text()``, ``job.repr_short()``...)
are generated from the functions of :mod:`jobgraph.views` by ``scripts/gen_delegates.py``:
the module checked in is what the script writes now, so a view whose signature or docstring
changed without regenerating fails here, and what ``help()`` shows on a method is its view's
documentation."""

from __future__ import annotations

import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import jobgraph as jg
import jobgraph.views

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "scripts" / "gen_delegates.py"


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_delegates", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_delegates", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_generated_delegates_are_what_the_script_writes_now(generator: ModuleType) -> None:
    written = generator.TARGET.read_text(encoding="utf-8")
    assert written == generator.render(), (
        "src/jobgraph/_core/_delegates.py is stale: a view's signature or docstring "
        "changed; run `python scripts/gen_delegates.py`"
    )


def test_a_view_docstring_changed_without_regenerating_is_stale(
    generator: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = generator.TARGET.read_text(encoding="utf-8")
    doc = jobgraph.views.dot_format.__doc__
    assert doc is not None
    monkeypatch.setattr(jobgraph.views.dot_format, "__doc__", doc.replace("DOT", "dot", 1))
    assert generator.render() != written


def test_check_option_says_the_module_is_fresh() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_every_delegate_has_its_view_signature_and_docstring(generator: ModuleType) -> None:
    """What ``help(jg.Scheduler.x)`` shows is the generated method (no hand-written one
    shadows it), with the view's parameters and docstring."""
    classes = {"SchedulerViews": jg.Scheduler, "JobViews": jg.AbstractJob}
    for mixin in generator.MIXINS:
        methods = {d.view: d.method for d in mixin.delegates if not d.method.startswith("_")}
        for delegate in mixin.delegates:
            view = getattr(jobgraph.views, delegate.view)
            method = getattr(classes[mixin.name], delegate.method)
            assert method.__qualname__ == f"{mixin.name}.{delegate.method}"
            first, *wanted = inspect.signature(view).parameters.values()
            _self, *got = inspect.signature(method).parameters.values()
            assert [(p.name, p.kind, p.default) for p in got] == [
                (p.name, p.kind, p.default) for p in wanted
            ], delegate.method
            doc = inspect.getdoc(method) or ""
            assert doc == generator.method_doc(jobgraph.views, view, first.name, methods)
            assert f"    {first.name}:" not in doc, delegate.method


def test_help_shows_the_view_documentation_on_the_method() -> None:
    doc = inspect.getdoc(jg.Scheduler.list_text)
    assert doc is not None
    assert doc.startswith("The listing of :meth:`Scheduler.list")
    assert "silence_done_jobs: leave out jobs that are done." in doc
    assert "scheduler:" not in doc
    assert inspect.getdoc(jg.Scheduler.dot_format).startswith(  # type: ignore[union-attr]
        "This scheduler's graph in the DOT language"
    )
    assert str(inspect.signature(jg.Scheduler.timeline_svg)) == (
        "(self, *, max_jobs: 'int | None' = 1000) -> 'str'"
    )


def test_delegates_call_their_views() -> None:
    a = jg.Job(_nothing, label="a")
    b = jg.Job(_nothing, label="b", requires=a)
    scheduler = jg.Scheduler(a, b)
    assert scheduler.list_text(ascii=True) == jobgraph.views.list_text(scheduler, ascii=True)
    assert scheduler.dot_format() == jobgraph.views.dot_format(scheduler)
    assert list(scheduler.topological_order()) == [a, b]
    assert scheduler.predecessors(b) == {a}
    assert b.repr_main() == "<Job `b`>"
    assert scheduler.counts() == (0, 0, 2, 2)


async def _nothing() -> None:
    return None
