"""Imports flow one way: the engine room, then the seam, then views and outer packages;
views read the engine through public accessors only.

The rules, checked on the source (with :mod:`ast`, every ``import`` statement, at module
level, under ``if TYPE_CHECKING:`` or inside a function):

- the engine room, ``jobgraph._core``, imports nothing of jobgraph outside itself, with
  one exception: a method may import the public package ``jobgraph.views`` *inside its
  body* (``import jobgraph.views``), which is how the documented methods
  ``Scheduler.list()``, ``s.dot_format()``... delegate to their views without the engine
  depending on them at import time;
- outer code (``jobgraph.views``, ``jobgraph.services``, ``jobgraph.compat``,
  ``jobgraph.testing``, ``jobgraph.dask``, and ``jobgraph_ssh``) imports no private module
  of jobgraph (``jobgraph._core``, ``jobgraph._entry``, another package's ``_x`` module...): only
  ``jobgraph``, ``jobgraph.lowlevel``, the public packages, and its own private modules;
- no module-level import circles in ``src/``. The graph has an edge from a module to
  every module of ``src/`` it imports while it is being imported: its top-level
  ``import``/``from`` statements (also under a plain ``if``, ``try``, ``with`` or a
  class body), relative ones resolved, ``from pkg import name`` an edge to
  ``pkg.name`` when that is a module, else to ``pkg``. Imports under
  ``if TYPE_CHECKING:`` (never run) and inside a function (run when called, once every
  module is loaded) are not edges: they are how a lower module names a higher one in
  an annotation or reaches it at call time. An import of a package's own ancestor
  (``from jobgraph import Scheduler`` in ``jobgraph.views._dot``) is an edge like any
  other: the ancestor is half-initialised then, and only its order of lines keeps the
  name there.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"

CORE = "jobgraph._core"
# packages written against public names only, as a user's extension would be
OUTER = (
    "jobgraph.views",
    "jobgraph.services",
    "jobgraph.compat",
    "jobgraph.testing",
    "jobgraph.dask",
    "jobgraph_ssh",
)
# the SSH wing's floors: built on jobgraph_ssh's public names and its lowlevel seam only
SSH_OUTER = ("jobgraph_ssh.compat", "jobgraph_ssh.services", "jobgraph_ssh.cli")
# what the core may import inside a function body (a delegate to its views)
CORE_LAZY_ALLOWED = ("jobgraph.views",)


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _imports(module: str, source: str, *, is_package: bool) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every import of ``source``.

    ``from a import b`` yields ``a.b`` (b may be a module or a name: both are checked as
    paths, which is what matters for privacy); relative imports are resolved.
    """
    tree = ast.parse(source)
    found: list[tuple[str, int, bool]] = []
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST, *, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")
                    parent = parts[: len(parts) - (child.level - 1)]
                    base = ".".join(parent + ([base] if base else []))
                found.extend(
                    (f"{base}.{alias.name}", child.lineno, in_function) for alias in child.names
                )
            visit(child, in_function=inner)

    visit(tree, in_function=False)
    return found


def _private_part(module: str, root: str = "jobgraph") -> str | None:
    """The first private package or module of ``root`` in ``module``'s path, or None."""
    parts = module.split(".")
    if parts[0] != root:
        return None
    for index, part in enumerate(parts[1:], 1):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[: index + 1])
    return None


def check_source(module: str, source: str, *, is_package: bool = False) -> list[str]:
    """The layering violations of one module, as readable lines (empty: none)."""
    problems: list[str] = []
    for target, line, in_function in _imports(module, source, is_package=is_package):
        where = f"{module}:{line} imports {target}"
        if _within(module, CORE):
            if not _within(target, "jobgraph") or _within(target, CORE):
                continue
            if in_function and target in CORE_LAZY_ALLOWED:
                continue
            if target in CORE_LAZY_ALLOWED:
                problems.append(f"{where} at module level (only inside a function)")
            else:
                problems.append(f"{where}: the engine room imports nothing outside it")
            continue
        outer = next((p for p in OUTER if _within(module, p)), None)
        if outer is None:
            continue
        private = _private_part(target)
        if private is not None and not _within(private, outer):
            problems.append(f"{where}: {private} is private (use jobgraph or jobgraph.lowlevel)")
        floor = next((p for p in SSH_OUTER if _within(module, p)), None)
        private = _private_part(target, "jobgraph_ssh")
        if floor is not None and private is not None and not _within(private, floor):
            problems.append(
                f"{where}: {private} is private (use jobgraph_ssh or jobgraph_ssh.lowlevel)"
            )
    return problems


def module_name(path: Path, root: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def check_tree(root: Path) -> list[str]:
    """The layering violations of every module under ``root`` (a ``src`` directory)."""
    problems: list[str] = []
    for path in sorted(root.rglob("*.py")):
        module, is_package = module_name(path, root)
        problems += check_source(module, path.read_text(encoding="utf-8"), is_package=is_package)
    return problems


# -- the tree as it is -----------------------------------------------------------------------
def test_source_tree_imports_flow_one_way() -> None:
    assert (SRC / "jobgraph" / "_core").is_dir()
    assert check_tree(SRC) == []


def test_the_checker_sees_the_engine_and_its_outer_packages() -> None:
    # a checker that finds no module at all would pass vacuously
    modules = {module_name(path, SRC)[0] for path in SRC.rglob("*.py")}
    assert "jobgraph._core._run" in modules
    assert "jobgraph._core._scheduler" in modules
    for package in OUTER[:-1]:
        assert package in modules
    # the one allowed core -> views import is really there (inside the delegates)
    source = (SRC / "jobgraph" / "_core" / "_scheduler.py").read_text(encoding="utf-8")
    lazy = [
        target
        for target, _, in_function in _imports(
            "jobgraph._core._scheduler", source, is_package=False
        )
        if in_function and target == "jobgraph.views"
    ]
    assert lazy


# -- planted wrong-way imports -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("jobgraph._core._job", "from jobgraph.views import list_text\n"),
        ("jobgraph._core._job", "import jobgraph.services\n"),
        ("jobgraph._core._job", "from jobgraph.compat.asynciojobs import Job\n"),
        ("jobgraph._core._job", "from jobgraph.testing import run_graph\n"),
        ("jobgraph._core._job", "from jobgraph import lowlevel\n"),
        ("jobgraph._core._job", "from ..views import _listing\n"),
        (
            "jobgraph._core._job",
            "import typing\nif typing.TYPE_CHECKING:\n    from jobgraph.views import x\n",
        ),
        # inside a function, only the public views package
        ("jobgraph._core._job", "def f():\n    from jobgraph.views._listing import list_text\n"),
        ("jobgraph._core._job", "def f():\n    import jobgraph.services\n"),
        ("jobgraph.services._pool", "from jobgraph._core._job import AbstractJob\n"),
        ("jobgraph.services._pool", "from jobgraph._core import _policy\n"),
        ("jobgraph.services._pool", "from jobgraph import _core\n"),
        ("jobgraph.services._pool", "def f():\n    from jobgraph._entry import run\n"),
        ("jobgraph.compat.asynciojobs._jobs", "from ..._core._job import AbstractJob\n"),
        ("jobgraph.testing._kind", "import jobgraph._core._scheduler\n"),
        ("jobgraph.testing._kind", "from jobgraph.services._pool import ServicePool\n"),
        ("jobgraph.views._dot", "from jobgraph._core._record import JobState\n"),
        ("jobgraph_ssh._job", "from jobgraph._core._job import AbstractJob\n"),
        ("jobgraph_ssh.compat.apssh.commands", "from jobgraph_ssh._commands import Run\n"),
        ("jobgraph_ssh.compat.apssh.sshproxy", "from jobgraph_ssh._asyncssh import _glue\n"),
        ("jobgraph_ssh.services._push", "from .._node import SshNode\n"),
        (
            "jobgraph_ssh.cli._output",
            "def f():\n    from jobgraph_ssh._asyncssh._connection import Tail\n",
        ),
        ("jobgraph_ssh.compat.apssh.cli", "from jobgraph_ssh.cli._targets import parse\n"),
    ],
)
def test_checker_catches_a_wrong_way_import(module: str, source: str) -> None:
    problems = check_source(module, source)
    assert len(problems) == 1
    assert module in problems[0]


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("jobgraph._core._scheduler", "def f():\n    from jobgraph import views\n"),
        ("jobgraph._core._scheduler", "from ._job import AbstractJob\nimport anyio\n"),
        ("jobgraph.services._pool", "from jobgraph import Job\nfrom jobgraph.lowlevel import x\n"),
        ("jobgraph.services._pool", "from ._service import Service\n"),
        ("jobgraph.testing", "from jobgraph.testing._runner import run_graph\n"),
        ("jobgraph.compat.asynciojobs._jobs", "from jobgraph import views\n"),
        ("jobgraph.views._dot", "from ._listing import number_jobs\n"),
        ("jobgraph_ssh._job", "from jobgraph.lowlevel import AbstractJob\n"),
        ("jobgraph_ssh.services._push", "from jobgraph_ssh import lowlevel, SshJob\n"),
        ("jobgraph_ssh.compat.apssh.sshjob", "from ._errors import as_apssh_error\n"),
        ("jobgraph_ssh._job", "from ._asyncssh import _connection\n"),
    ],
)
def test_checker_lets_the_right_way_through(module: str, source: str) -> None:
    assert check_source(module, source) == []


def test_checker_catches_a_planted_module_on_disk(tmp_path: Path) -> None:
    package = tmp_path / "jobgraph"
    for name in ("_core", "services"):
        (package / name).mkdir(parents=True)
        (package / name / "__init__.py").write_text('"""x"""\n', encoding="utf-8")
    (package / "__init__.py").write_text("from ._core._job import AbstractJob\n", encoding="utf-8")
    (package / "_core" / "_job.py").write_text("class AbstractJob: ...\n", encoding="utf-8")
    assert check_tree(tmp_path) == []
    (package / "services" / "_bad.py").write_text(
        "from jobgraph._core._job import AbstractJob\n", encoding="utf-8"
    )
    (package / "_core" / "_bad.py").write_text(
        "from jobgraph.services import _bad\n", encoding="utf-8"
    )
    problems = check_tree(tmp_path)
    assert len(problems) == 2
    assert any(p.startswith("jobgraph.services._bad:1 ") for p in problems)
    assert any(p.startswith("jobgraph._core._bad:1 ") for p in problems)


# -- no module-level import circles ---------------------------------------------------------------
def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def module_level_edges(
    module: str, source: str, modules: set[str], *, is_package: bool = False
) -> set[str]:
    """The modules of ``modules`` that ``module`` imports while it is being imported
    (see the rules above: TYPE_CHECKING blocks and function bodies left out)."""
    package = module if is_package else module.rpartition(".")[0]
    edges: set[str] = set()

    def known(name: str) -> str | None:  # ``import a.b.c`` of a module or of a package above
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    def visit(body: list[ast.stmt]) -> None:
        for statement in body:
            if isinstance(statement, ast.Import):
                edges.update(filter(None, (known(alias.name) for alias in statement.names)))
            elif isinstance(statement, ast.ImportFrom):
                base = statement.module or ""
                if statement.level:
                    parts = package.split(".")
                    parent = parts[: len(parts) - (statement.level - 1)]
                    base = ".".join(parent + ([base] if base else []))
                for alias in statement.names:
                    target = f"{base}.{alias.name}"
                    found = target if target in modules else known(base)
                    if found is not None:
                        edges.add(found)
            elif isinstance(statement, ast.If):
                if not _is_type_checking(statement.test):
                    visit(statement.body)
                visit(statement.orelse)
            elif isinstance(statement, ast.Try):
                visit(statement.body)
                for handler in statement.handlers:
                    visit(handler.body)
                visit(statement.orelse)
                visit(statement.finalbody)
            elif isinstance(statement, ast.With | ast.ClassDef):
                visit(statement.body)

    visit(ast.parse(source).body)
    edges.discard(module)
    return edges


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules it imports at module level, for every module under ``root``."""
    paths = {module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    modules = {name for name, _ in paths}
    return {
        name: module_level_edges(
            name, path.read_text(encoding="utf-8"), modules, is_package=is_package
        )
        for (name, is_package), path in paths.items()
    }


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (``[a, b, ..., a]``), or None."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        path.append(start)
        on_path.add(start)
        while stack:
            node, todo = stack[-1]
            if not todo:
                stack.pop()
                path.pop()
                on_path.discard(node)
                done.add(node)
                continue
            nxt = todo.pop(0)
            if nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            if nxt in done or nxt not in graph:
                continue
            stack.append((nxt, sorted(graph[nxt])))
            path.append(nxt)
            on_path.add(nxt)
    return None


def test_no_module_level_import_circles() -> None:
    graph = import_graph(SRC)
    # the edges the checker must see (a graph without them would pass vacuously)
    assert "jobgraph_ssh.services._remote" in graph["jobgraph_ssh.services"]
    assert "jobgraph_ssh._job" in graph["jobgraph_ssh.lowlevel"]
    assert "jobgraph.views" in graph["jobgraph"]  # Progress
    assert "jobgraph.lowlevel" in graph["jobgraph.views._dot"]
    circle = find_circle(graph)
    assert circle is None, "import circle: " + " -> ".join(circle or ())


def test_the_ssh_job_does_not_import_its_services() -> None:
    # one way: jobgraph_ssh.services is built on the SshJob, not the SshJob on it, not
    # even inside a function (the services wiring is registered, see lowlevel.wire_services)
    source = (SRC / "jobgraph_ssh" / "_job.py").read_text(encoding="utf-8")
    imported = [target for target, _, _ in _imports("jobgraph_ssh._job", source, is_package=False)]
    assert imported
    assert not [target for target in imported if _within(target, "jobgraph_ssh.services")]


@pytest.mark.parametrize(
    ("files", "circle"),
    [
        ({"a/__init__.py": "from . import b\n", "a/b.py": "from a import c\n", "a/c.py": ""}, None),
        (
            {"a/__init__.py": "", "a/b.py": "from . import c\n", "a/c.py": "from .b import x\n"},
            "a.b -> a.c -> a.b",
        ),
        (
            {
                "a/__init__.py": "from .b import x\n",
                "a/b.py": "import a.c\n",
                "a/c.py": "import a\n",
            },
            "a -> a.b -> a.c -> a",
        ),
        (  # under TYPE_CHECKING or in a function: no edge
            {
                "a/__init__.py": "",
                "a/b.py": "from a import c\n",
                "a/c.py": "import typing\nif typing.TYPE_CHECKING:\n    from a import b\n"
                "def f():\n    from a import b\n",
            },
            None,
        ),
        (  # in a try, an else, a class body: an edge
            {
                "a/__init__.py": "",
                "a/b.py": "try:\n    from a import c\nexcept ImportError:\n    pass\n",
                "a/c.py": "class K:\n    from . import b\n",
            },
            "a.b -> a.c -> a.b",
        ),
    ],
)
def test_circle_finder_on_planted_trees(
    tmp_path: Path, files: dict[str, str], circle: str | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    found = find_circle(import_graph(tmp_path))
    assert (" -> ".join(found) if found else None) == circle


# -- fields of the engine: outer code reads them through the seam ----------------------------
# what the engine keeps behind public names that a job class may own (``self.record = ...``
# in an asynciojobs-style subclass): outer code reads them with jobgraph.lowlevel's
# record_of(), owner_of(), requirements_of(), failure_of(), stragglers_of()
ENGINE_FIELDS = frozenset(
    (
        "_record",
        "_owner",
        "_requires",
        "_retry",
        "_on_failed_requirement",
        "_timeout",
        "_run_timeout",
        "_failure",
        "_stragglers",
        "_jobs",
    )
)


def check_field_reads(module: str, source: str) -> list[str]:
    """Reads of the engine's fields on another object than ``self`` in outer code
    (a class of the drop-in reaching its own inherited fields is its business)."""
    if not any(_within(module, package) for package in OUTER):
        return []
    return [
        f"{module}:{node.lineno} reads {ast.unparse(node)} (use jobgraph.lowlevel)"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute)
        and node.attr in ENGINE_FIELDS
        and not (isinstance(node.value, ast.Name) and node.value.id == "self")
    ]


def test_outer_code_reads_engine_fields_through_the_seam() -> None:
    problems: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        module, _ = module_name(path, SRC)
        problems += check_field_reads(module, path.read_text(encoding="utf-8"))
    assert problems == []


@pytest.mark.parametrize(
    ("module", "source", "found"),
    [
        ("jobgraph.views._dot", "def f(job):\n    return job._record.state\n", 1),
        ("jobgraph.views._report", "def f(s):\n    return s._failure, s._jobs\n", 2),
        ("jobgraph.testing._kind", "def f(job):\n    return job._owner()\n", 1),
        ("jobgraph.compat.asynciojobs._x", "def f(job):\n    return job._requires\n", 1),
        ("jobgraph.views._dot", "def f(job):\n    return record_of(job).state\n", 0),
        ("jobgraph.compat.asynciojobs._x", "class A:\n    def f(self):\n        self._record\n", 0),
        ("jobgraph._core._run", "def f(job):\n    return job._record\n", 0),
    ],
)
def test_field_checker_catches_a_planted_read(module: str, source: str, found: int) -> None:
    assert len(check_field_reads(module, source)) == found


# -- views read public accessors only ------------------------------------------------------------
def private_attribute_reads(source: str) -> list[str]:
    """``obj._name`` accesses in ``source`` where ``obj`` is not ``self`` (or ``cls``)."""
    return [
        f"{node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    ]


def test_views_read_no_private_attribute_of_the_engine() -> None:
    views = sorted((SRC / "jobgraph" / "views").glob("*.py"))
    assert views
    for path in views:
        problems = private_attribute_reads(path.read_text(encoding="utf-8"))
        assert problems == [], f"{path.name}: {problems}"


def test_private_attribute_check_catches_a_planted_read() -> None:
    assert private_attribute_reads("def f(job):\n    return job._requires\n") == [
        "2: job._requires"
    ]
    assert private_attribute_reads("def f(self):\n    return self._x, x.__class__\n") == []
