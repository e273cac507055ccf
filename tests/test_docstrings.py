"""Every public callable of jobgraph documents its arguments, result and cancellation.

Walks ``__all__`` of :mod:`jobgraph`, :mod:`jobgraph.lowlevel`, :mod:`jobgraph.views`,
:mod:`jobgraph.services`, :mod:`jobgraph.testing`, :mod:`jobgraph_ssh`,
:mod:`jobgraph_ssh.services` (with its remote client module), :mod:`jobgraph_ssh.cli` and
:mod:`jobgraph_ssh.testing`;
for classes, their public methods defined inside jobgraph or jobgraph_ssh (but not in
``jobgraph_ssh.compat``).  A callable with parameters needs an ``Args:`` section, an
async one a ``Cancellation:`` paragraph, one that returns something ``Returns:`` (or
``Yields:``).  Properties may keep a one-line docstring.
"""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Callable, Iterator

import pytest

# jobgraph_ssh.compat.apssh is deliberately left out: it mirrors apssh's API, and its
# docstrings are being reworked separately; it is not walked yet (and neither is a class
# or function whose home is there, see _is_ours).
PACKAGES = (
    "jobgraph",
    "jobgraph.lowlevel",
    "jobgraph.views",
    "jobgraph.services",
    "jobgraph.testing",
    "jobgraph_ssh",
    "jobgraph_ssh.services",
    "jobgraph_ssh.services.jobgraph_call",
    "jobgraph_ssh.cli",
    "jobgraph_ssh.testing",
)
EXCLUDED = ("jobgraph_ssh.compat",)


def _is_ours(obj: object) -> bool:
    module = getattr(obj, "__module__", None) or ""
    if any(module == excluded or module.startswith(f"{excluded}.") for excluded in EXCLUDED):
        return False
    return any(
        module == root or module.startswith(f"{root}.") for root in ("jobgraph", "jobgraph_ssh")
    )


def _callables() -> Iterator[tuple[str, Callable[..., object]]]:
    """Each public function once, named where it is first met."""
    seen: set[int] = set()
    for name, function in _walk():
        if id(function) not in seen:
            seen.add(id(function))
            yield name, function


def _walk() -> Iterator[tuple[str, Callable[..., object]]]:
    seen: set[int] = set()
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if id(obj) in seen or not _is_ours(obj):
                continue
            seen.add(id(obj))
            if inspect.isclass(obj):
                yield from _methods(f"{package}.{name}", obj)
            elif callable(obj):
                yield f"{package}.{name}", obj


def _methods(qualname: str, cls: type) -> Iterator[tuple[str, Callable[..., object]]]:
    for klass in cls.__mro__:
        if not _is_ours(klass):
            continue
        for attr, raw in vars(klass).items():
            if attr.startswith("_") and attr != "__init__":
                continue
            if isinstance(raw, property):
                continue
            function = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw
            if not inspect.isfunction(function) or not _is_ours(function):
                continue
            if attr == "__init__" and klass is not cls:
                continue
            yield f"{qualname}.{attr}", function


def _parameters(function: Callable[..., object]) -> list[str]:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return []
    return [name for name in signature.parameters if name not in ("self", "cls")]


def _returns_something(function: Callable[..., object]) -> bool:
    if getattr(function, "__name__", "") == "__init__":
        return False
    try:
        hints = typing.get_type_hints(function)
    except Exception:
        annotation = inspect.signature(function).return_annotation
        return annotation not in (None, "None", inspect.Signature.empty)
    return "return" in hints and hints["return"] is not type(None)


def _doc(name: str, function: Callable[..., object]) -> str:
    if name.endswith(".__init__"):
        # Sphinx renders the class docstring and __init__'s together (autoclass_content).
        owner = function.__qualname__.rsplit(".", 1)[0]
        module = importlib.import_module(function.__module__)
        cls = getattr(module, owner, None)
        return (inspect.getdoc(cls) or "") + "\n" + (function.__doc__ or "")
    return inspect.getdoc(function) or ""


CALLABLES = sorted(_callables(), key=lambda item: item[0])


def test_the_walk_finds_the_public_api() -> None:
    names = {name for name, _ in CALLABLES}
    assert "jobgraph.run" in names
    assert "jobgraph.lowlevel.topological_sort" in names
    assert "jobgraph.services.ServicePool.call" in names
    assert "jobgraph_ssh.SshNode.run_line" in names
    assert "jobgraph_ssh.services.PushFileService.push" in names
    assert "jobgraph_ssh.services.jobgraph_call.call" in names
    assert "jobgraph_ssh.cli.main" in names
    assert not any(name.startswith("jobgraph_ssh.compat") for name in names)
    assert len(names) > 100


def _missing(name: str, function: Callable[..., object]) -> list[str]:
    """What the docstring of ``function`` lacks, in words (empty: nothing)."""
    doc = _doc(name, function)
    missing = []
    if not doc.strip():
        missing.append("a docstring")
    # a class documents its constructor's arguments (dataclasses: as Attributes:)
    sections = ("Args:", "Attributes:") if name.endswith(".__init__") else ("Args:",)
    if _parameters(function) and not any(section in doc for section in sections):
        missing.append("an Args: section")
    is_async = inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)
    if is_async and "Cancellation:" not in doc:
        missing.append("a Cancellation: paragraph")
    # a function returning an iterator may document it as Yields: (napoleon renders both)
    if _returns_something(function) and not ("Returns:" in doc or "Yields:" in doc):
        missing.append("a Returns: (or Yields:) section")
    return missing


async def _undocumented(job: str) -> int:
    """Only a summary line."""
    return len(job)


def _documented(job: str) -> None:
    """A summary line.

    Args:
        job: a label.
    """


def test_the_check_flags_what_is_missing() -> None:
    assert _missing("sample", _undocumented) == [
        "an Args: section",
        "a Cancellation: paragraph",
        "a Returns: (or Yields:) section",
    ]
    assert _missing("sample", _documented) == []


@pytest.mark.parametrize(("name", "function"), CALLABLES, ids=[n for n, _ in CALLABLES])
def test_public_callable_is_documented(name: str, function: Callable[..., object]) -> None:
    missing = _missing(name, function)
    assert not missing, f"{name} lacks " + ", ".join(missing)
