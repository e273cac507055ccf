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


FENCE = PACKAGE / "_asyncssh"  # the asyncio side: asyncssh, the glue, the sandbox's servers
FENCED = {"asyncio", "trio", "asyncssh"}


def test_asyncio_trio_and_asyncssh_are_fenced_in_one_folder() -> None:
    # as anyio keeps its backends in _backends/: every import of an asyncio library, at
    # module level, under TYPE_CHECKING or inside a function, is in jobgraph_ssh/_asyncssh
    outside = {
        f"{path.relative_to(PACKAGE)}: {module}"
        for path in PACKAGE.rglob("*.py")
        if FENCE not in path.parents
        for module in imported_modules(path)
        if module.split(".")[0] in FENCED
    }
    assert outside == set()
    assert FENCE.is_dir()
    # the scan sees the fenced imports where they are (else it would pass vacuously)
    inside = {
        module.split(".")[0] for path in FENCE.rglob("*.py") for module in imported_modules(path)
    }
    assert inside >= FENCED


def test_public_api_is_what_all_says() -> None:
    public = {name for name in dir(jobgraph_ssh) if not name.startswith("_")}
    # from __future__; public subpackages and modules (imported by other tests)
    submodules = {"annotations", "cli", "compat", "services", "lowlevel", "sandbox", "testing"}
    assert public - submodules == set(jobgraph_ssh.__all__)
    for name in jobgraph_ssh.__all__:
        obj = getattr(jobgraph_ssh, name)
        if isinstance(obj, type):
            assert obj.__module__ == "jobgraph_ssh", name
