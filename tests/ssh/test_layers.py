"""jobgraph_ssh is written like a user's extension: public jobgraph names only."""

from __future__ import annotations

import ast
from pathlib import Path

import jobgraph_ssh

PACKAGE = Path(jobgraph_ssh.__file__).parent


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def test_jobgraph_ssh_imports_no_private_jobgraph_module() -> None:
    offending = {
        f"{path.relative_to(PACKAGE)}: {module}"
        for path in PACKAGE.rglob("*.py")
        for module in imported_modules(path)
        if module.startswith("jobgraph.") and module.split(".")[1].startswith("_")
    }
    assert offending == set()


def test_asyncio_and_trio_are_fenced_in_the_glue() -> None:
    fenced = {
        "_glue.py": {"asyncio", "trio"},
        "_connection.py": {"asyncio"},
        "_tunnel.py": {"asyncio"},  # services/: the asyncssh side of remote calls
        "_transfer.py": {"asyncio"},  # services/: the asyncssh side of PushFileService
        "_sandbox_server.py": {"asyncio"},  # the sandbox's hosts: asyncssh servers
    }
    for path in PACKAGE.rglob("*.py"):
        allowed = fenced.get(path.name, set())
        used = {m.split(".")[0] for m in imported_modules(path)} & {"asyncio", "trio"}
        assert used <= allowed, f"{path.name} imports {used - allowed}"


def test_public_api_is_what_all_says() -> None:
    public = {name for name in dir(jobgraph_ssh) if not name.startswith("_")}
    # from __future__; public subpackages and modules (imported by other tests)
    submodules = {"annotations", "cli", "compat", "services", "lowlevel", "sandbox", "testing"}
    assert public - submodules == set(jobgraph_ssh.__all__)
    for name in jobgraph_ssh.__all__:
        obj = getattr(jobgraph_ssh, name)
        if isinstance(obj, type):
            assert obj.__module__ == "jobgraph_ssh", name
