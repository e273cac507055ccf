"""apssh's submodule paths hold the classes themselves, as in apssh: each class and
function reports the submodule apssh defines it in, in reprs, tracebacks and pickles."""

from __future__ import annotations

import importlib
import pickle
import traceback

import pytest

from jobgraph_ssh.compat import apssh

# apssh 0.27's modules and what each defines (its API reference), with this drop-in's
# additions (HostFormatter, TimeHostFormatter, the host-key policy functions)
MODULES = {
    "commands": [
        "AbstractCommand",
        "Pull",
        "Push",
        "Run",
        "RunLocalStuff",
        "RunScript",
        "RunString",
    ],
    "formatters": [
        "CaptureFormatter",
        "ColonFormatter",
        "Formatter",
        "HostFormatter",
        "RawFormatter",
        "SubdirFormatter",
        "TerminalFormatter",
        "TimeColonFormatter",
        "TimeHostFormatter",
    ],
    "keys": ["import_private_key", "load_agent_keys", "load_private_keys"],
    "nodes": ["LocalNode", "SshNode"],
    "service": ["Service"],
    "sshjob": ["CommandFailedError", "SshJob"],
    "sshproxy": ["SshProxy", "host_key_policy", "set_host_key_policy"],
    "topology": [
        "close_ssh_in_scheduler",
        "co_close_ssh_in_scheduler",
        "topology_as_dotfile",
        "topology_as_pngfile",
        "topology_dot",
        "topology_graph",
    ],
    "yaml_loader": ["YamlLoader", "YamlLoaderError"],
}
PAIRS = [(module, name) for module, names in MODULES.items() for name in names]


@pytest.mark.parametrize(("module", "name"), PAIRS, ids=[f"{m}.{n}" for m, n in PAIRS])
def test_each_name_lives_in_its_apssh_submodule(module: str, name: str) -> None:
    path = f"jobgraph_ssh.compat.apssh.{module}"
    submodule = importlib.import_module(path)
    obj = getattr(submodule, name)
    assert obj is getattr(apssh, name)  # the package exports that very object
    assert name in submodule.__all__
    assert obj.__module__ == path
    assert f"{obj.__module__}.{obj.__qualname__}" == f"{path}.{name}"
    if isinstance(obj, type):
        assert repr(obj) == f"<class '{path}.{name}'>"
    # pickled by reference, through the submodule path
    dumped = pickle.dumps(obj)
    assert path.encode() in dumped
    assert pickle.loads(dumped) is obj


def test_every_exported_class_or_function_is_listed_above() -> None:
    listed = {name for names in MODULES.values() for name in names}
    defined_here = {
        name
        for name in apssh.__all__
        if getattr(getattr(apssh, name), "__module__", "").startswith(apssh.__name__)
    }
    assert defined_here == listed


def test_errors_show_and_pickle_through_their_submodule() -> None:
    error = apssh.YamlLoaderError("scenario.yaml:3: unknown key 'nods'")
    shown = traceback.format_exception_only(error)[-1]
    assert shown.startswith("jobgraph_ssh.compat.apssh.yaml_loader.YamlLoaderError: ")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is apssh.YamlLoaderError
    assert str(copy) == str(error)
    failed = apssh.CommandFailedError("command 'false' returned 1 on host")
    assert b"jobgraph_ssh.compat.apssh.sshjob" in pickle.dumps(failed)
    assert str(pickle.loads(pickle.dumps(failed))) == str(failed)


def test_deferred_names_are_the_native_ones() -> None:
    # apssh.deferred's classes are jobgraph_ssh's own, documented there
    deferred = importlib.import_module("jobgraph_ssh.compat.apssh.deferred")
    for name in ("Capture", "Deferred", "Variables"):
        obj = getattr(deferred, name)
        assert obj is getattr(apssh, name)
        assert obj.__module__ == "jobgraph_ssh"
