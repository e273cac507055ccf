"""Public names report the public module they are documented in, and still pickle."""

from __future__ import annotations

import importlib
import pickle
from types import ModuleType

import pytest

import jobgraph as jg
import jobgraph.lowlevel
import jobgraph.views

PUBLIC_PACKAGES = [
    "jobgraph",
    "jobgraph.lowlevel",
    "jobgraph.views",
    "jobgraph.services",
    "jobgraph.testing",
    "jobgraph.executors",
    "jobgraph.journal",
    "jobgraph.dask",
    "jobgraph.compat",
    "jobgraph.compat.asynciojobs",
    "jobgraph_ssh",
    "jobgraph_ssh.lowlevel",
    "jobgraph_ssh.compat",
    "jobgraph_ssh.services",
    "jobgraph_ssh.cli",
    "jobgraph_ssh.sandbox",
    "jobgraph_ssh.testing",
    "jobgraph_ssh.compat.apssh",
    # apssh's own submodules: each defines the names apssh defines there
    *(
        f"jobgraph_ssh.compat.apssh.{name}"
        for name in (
            "cli",
            "commands",
            "deferred",
            "formatters",
            "keys",
            "nodes",
            "service",
            "sshjob",
            "sshproxy",
            "topology",
            "yaml_loader",
        )
    ),
]
PUBLIC_MODULES = [importlib.import_module(name) for name in PUBLIC_PACKAGES]


def test_every_public_module_with_exports_is_checked() -> None:
    # a public module (no part starting with "_") that has __all__ is in the list above
    import pkgutil

    found = set()
    for root in ("jobgraph", "jobgraph_ssh"):
        package = importlib.import_module(root)
        found.add(root)
        for info in pkgutil.walk_packages(package.__path__, root + "."):
            if _private(info.name) or info.name.endswith(("__main__", ".jobgraph_call")):
                continue  # jobgraph_call: the client copied to remote hosts, a script
            module = importlib.import_module(info.name)
            if hasattr(module, "__all__"):
                found.add(info.name)
    assert found <= set(PUBLIC_PACKAGES), sorted(found - set(PUBLIC_PACKAGES))


def _private(module: str) -> bool:
    return any(part.startswith("_") for part in module.split("."))


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda m: m.__name__)
def test_exported_names_report_a_public_module_that_has_them(module: ModuleType) -> None:
    checked = 0
    for name in module.__all__:
        obj = getattr(module, name)
        home = getattr(obj, "__module__", None)
        if not isinstance(home, str) or not home.startswith("jobgraph"):
            continue  # constants, typing aliases
        if "<locals>" in obj.__qualname__:
            continue  # built by a decorator (hypothesis strategies): pickled by value
        assert not _private(home), f"{module.__name__}.{name} reports {home}"
        # the module it reports really exports it under its qualified name
        assert getattr(importlib.import_module(home), obj.__qualname__) is obj
        checked += 1
    assert checked or not module.__all__


def test_top_level_names_report_jobgraph() -> None:
    assert jg.Scheduler.__module__ == "jobgraph"
    assert jg.Job.__module__ == "jobgraph"
    assert jg.CycleError.__module__ == "jobgraph"
    assert jg.JobState.__module__ == "jobgraph"
    assert jg.run.__module__ == "jobgraph"
    assert jg.Progress.__module__ == "jobgraph"
    assert jg.Scheduler.run.__module__ == "jobgraph"
    assert repr(jg.Scheduler) == "<class 'jobgraph.Scheduler'>"
    assert jobgraph.lowlevel.Schedulable.__module__ == "jobgraph.lowlevel"
    assert jobgraph.views.list_text.__module__ == "jobgraph.views"


def test_apssh_names_report_the_apssh_submodule_that_defines_them() -> None:
    # apssh's layout: the package re-exports classes defined in its submodules
    from jobgraph_ssh.compat import apssh

    assert apssh.ColonFormatter.__module__ == "jobgraph_ssh.compat.apssh.formatters"
    assert apssh.SshProxy.__module__ == "jobgraph_ssh.compat.apssh.sshproxy"
    assert apssh.SshNode.__module__ == "jobgraph_ssh.compat.apssh.nodes"
    assert apssh.SshJob.co_run.__module__ == "jobgraph_ssh.compat.apssh.sshjob"
    assert repr(apssh.Run) == "<class 'jobgraph_ssh.compat.apssh.commands.Run'>"


def test_exceptions_and_enums_pickle_through_their_public_names() -> None:
    errors: list[BaseException] = [
        jg.JobGraphError("plain"),
        jg.InvalidOptionError("bad option"),
        jg.RunStateError("not now"),
    ]
    for error in errors:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert str(copy) == str(error)
    for state in jg.JobState:
        assert pickle.loads(pickle.dumps(state)) is state
    for policy in jg.OnFailedRequirement:
        assert pickle.loads(pickle.dumps(policy)) is policy
    for kind in jg.EventKind:
        assert pickle.loads(pickle.dumps(kind)) is kind
    retry = jg.Retry(attempts=3)
    assert pickle.loads(pickle.dumps(retry)) == retry
    assert b"jobgraph._core" not in pickle.dumps(jg.JobState.DONE)
    assert b"jobgraph._core" not in pickle.dumps(jg.RunStateError("x"))
