"""Sphinx extension of jobgraph's documentation site.

- ``.. autopackage:: jobgraph.services`` documents every name of a package's ``__all__``,
  grouped by kind, under the package's own name (``jobgraph.Scheduler``, never the private
  module that defines it), so that moving code between private modules changes nothing.
  The packages documented are those named by such a directive in ``reference/*.rst``.
- References that the Python domain cannot resolve are settled by narrow rules (see
  :func:`resolve_reference`); anything else stays a warning, an error under ``-W``.
- ``.. jobgraph-gallery::`` runs the scenes of ``make_images.py`` at build time and
  shows their code, graph and timeline.
- Two fixes for autodoc and napoleon quirks: dataclass defaults made by a factory, and
  property docstrings whose first line is prose with a colon.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import importlib.util
import inspect
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from sphinx.addnodes import desc, desc_signature, pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.errors import ExtensionError
from sphinx.util.nodes import nested_parse_with_titles

#: Top-level modules of other projects that docstrings and type hints may mention. With
#: ``JOBGRAPH_DOCS_ONLINE=1`` their names link through intersphinx (those that publish an
#: inventory); offline they show as code text. The standard library counts too.
EXTERNAL_ROOTS = frozenset(
    {"anyio", "trio", "asyncssh", "hypothesis", "rich", "pydot", "sniffio", "distributed", "dask"}
)

#: Those of them (and the standard library, "python") that publish an intersphinx inventory:
#: the keys of ``INTERSPHINX`` in conf.py.
INVENTORIES = frozenset({"python", "anyio", "trio", "asyncssh", "hypothesis", "rich"})

#: Headings of a package's reference page, in this order.
KINDS = ("Functions", "Classes", "Exceptions", "Constants and types")


# --- the reference pages ------------------------------------------------------------------


def public_names(package: str) -> list[str]:
    """The names a package exports: its ``__all__``, which every public package has."""
    module = importlib.import_module(package)
    names = getattr(module, "__all__", None)
    if names is None:
        raise ValueError(f"package {package!r} has no __all__: say what it exports")
    return list(names)


def kind_of(obj: Any) -> str:
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return "Exceptions"
    if inspect.isclass(obj):
        return "Classes"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return "Functions"
    return "Constants and types"


def is_private_module(name: str) -> bool:
    return any(part.startswith("_") for part in name.split("."))


def is_private_helper(cls: type, exported: set[type]) -> bool:
    """A class of jobgraph's private modules that no package exports (a mixin...)."""
    return (
        cls not in exported
        and cls.__module__.split(".", 1)[0] in ("jobgraph", "jobgraph_ssh")
        and is_private_module(cls.__module__)
    )


def documented_members(cls: type, exported: set[type]) -> list[str]:
    """The members a class's entry shows: its own public members and those it inherits
    from private helper classes (mixins), which have no entry of their own. Members of
    exported or foreign base classes are documented with those."""
    names: list[str] = []
    described = docstring_attributes(cls)  # napoleon makes their entries from the docstring
    for base in cls.__mro__:
        if base is not cls and not is_private_helper(base, exported):
            continue
        names += [
            name
            for name in vars(base)
            if not name.startswith("_") and name not in names and name not in described
        ]
    return names


ATTRIBUTE_LINE = re.compile(r"^    (\w+)\s*(\(.*\))?\s*:")


def docstring_attributes(cls: type) -> set[str]:
    """The names that the ``Attributes:`` section of a class's (Google style) docstring
    describes: napoleon documents them, so autodoc must not list them a second time."""
    names: set[str] = set()
    inside = False
    for line in (inspect.getdoc(cls) or "").splitlines():
        if line.strip() == "Attributes:":
            inside = True
        elif inside and line.strip() and not line.startswith(" "):
            inside = False
        elif inside and (found := ATTRIBUTE_LINE.match(line)):
            names.add(found.group(1))
    return names


def attribute_doc(package: str, name: str) -> list[str]:
    """The docstring of a module-level constant, read from the module that assigns it
    (the package's ``__init__`` only imports it)."""
    from sphinx.pycode import ModuleAnalyzer

    value = getattr(importlib.import_module(package), name)
    candidates = [
        package,
        *sorted(
            other
            for other, module in list(sys.modules.items())
            if other.startswith(package + ".") and getattr(module, name, object()) is value
        ),
    ]
    for candidate in candidates:
        try:
            docs = ModuleAnalyzer.for_module(candidate).find_attr_docs()
        except Exception:  # noqa: BLE001, S112 - a module without source has no attribute docs
            continue
        if ("", name) in docs:
            return list(docs["", name])
    return []


def public_text(text: str, mapping: dict[str, str]) -> str:
    """Replaces private dotted paths (``jobgraph._events.JobEvent``) by public names."""
    for private, public in sorted(mapping.items(), key=lambda item: -len(item[0])):
        text = text.replace(private, public)
    return text


def entry(
    package: str, name: str, obj: Any, exported: set[type], mapping: dict[str, str]
) -> list[str]:
    kind = kind_of(obj)
    if kind in ("Exceptions", "Classes"):
        directive = "autoexception" if kind == "Exceptions" else "autoclass"
        lines = [f".. {directive}:: {package}.{name}"]
        members = documented_members(obj, exported)
        if members:  # every public member, with or without a docstring of its own
            lines += [f"   :members: {', '.join(members)}", "   :undoc-members:"]
        return lines
    if kind == "Functions":
        return [f".. autofunction:: {package}.{name}"]
    value = public_text(repr(obj), mapping)
    if len(value) > 80:
        value = value[:77] + "..."
    lines = [f".. py:data:: {name}", f"   :value: {value}", ""]
    return lines + [f"   {line}" for line in attribute_doc(package, name)]


def package_rst(
    package: str, exported: set[type], mapping: dict[str, str], homes: dict[str, str]
) -> list[str]:
    """reStructuredText documenting every name of ``package.__all__``, grouped by kind.
    A name whose home is another package (see :func:`home_of`) is not described again:
    it is listed, as a link to its entry, under "Also exported here"."""
    module = importlib.import_module(package)
    groups: dict[str, list[str]] = {kind: [] for kind in KINDS}
    elsewhere: list[str] = []
    for name in public_names(package):
        home = homes.get(f"{package}.{name}", f"{package}.{name}")
        if home != f"{package}.{name}":
            role = "py:mod" if inspect.ismodule(getattr(module, name)) else "py:obj"
            elsewhere.append(f":{role}:`{name} <{home}>`")
        else:
            groups[kind_of(getattr(module, name))].append(name)
    lines = [f".. automodule:: {package}", "   :no-members:", "", f".. currentmodule:: {package}"]
    for kind in KINDS:
        if groups[kind]:
            lines += ["", kind, "-" * len(kind), ""]
            for name in sorted(groups[kind], key=str.lower):
                lines += [*entry(package, name, getattr(module, name), exported, mapping), ""]
    if elsewhere:
        title = "Also exported here"
        lines += ["", title, "-" * len(title), ""]
        lines += [
            "The same objects as those linked, which document them.",
            "",
        ]
        lines += [f"- {link}" for link in sorted(elsewhere, key=str.lower)]
        lines.append("")
    return lines


def home_of(package: str, name: str, packages: list[str]) -> str:
    """The full name under which ``package.name`` is documented (its one entry).

    - a module: the module itself, if it has a reference page;
    - a class or function: the public package its ``__module__`` names, when that package
      exports it under the same name (``fixup_module_metadata`` sets it to the first
      public package that exports it: ``jobgraph.AbstractJob``, also exported by
      ``jobgraph.lowlevel``); else the first documented package that exports it;
    - a constant or type alias exported by several packages: the shortest of them.
    """
    obj = getattr(importlib.import_module(package), name)
    if inspect.ismodule(obj):
        return obj.__name__ if obj.__name__ in packages else f"{package}.{name}"
    sharing = [
        other
        for other in packages
        if name in public_names(other) and getattr(importlib.import_module(other), name) is obj
    ]
    if inspect.isclass(obj) or inspect.isroutine(obj):
        owner = getattr(obj, "__module__", "")
        home = owner if owner in sharing else sharing[0]
    else:
        home = min(sharing, key=lambda other: (len(other), other))
    return f"{home}.{name}"


def home_map(packages: list[str]) -> dict[str, str]:
    """``package.name`` -> the full name of its entry, for every exported name."""
    return {
        f"{package}.{name}": home_of(package, name, packages)
        for package in packages
        for name in public_names(package)
    }


class AutoPackage(Directive):
    """``.. autopackage:: NAME``: the package's docstring, then every name of ``__all__``."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        package = self.arguments[0]
        env = self.state.document.settings.env
        source = self.state.document.current_source or ""
        content = StringList()
        for number, line in enumerate(
            package_rst(package, env.jobgraph_exported, env.jobgraph_public, env.jobgraph_homes)
        ):
            content.append(line, source, number)
        holder = nodes.section()
        holder.document = self.state.document
        nested_parse_with_titles(self.state, content, holder)
        return list(holder.children)


def documented_packages(reference: Path) -> list[str]:
    """The packages named by an ``autopackage`` directive in ``reference/*.rst``."""
    return [
        line.split("::", 1)[1].strip()
        for page in sorted(reference.glob("*.rst"))
        for line in page.read_text(encoding="utf-8").splitlines()
        if line.startswith(".. autopackage::")
    ]


def public_map(packages: list[str]) -> dict[str, str]:
    """Maps ``module.qualname`` of every exported class or function to its public name:
    the one entry that documents it (see :func:`home_of`)."""
    found: dict[str, str] = {}
    for package in packages:
        module = importlib.import_module(package)
        for name in public_names(package):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isroutine(obj):
                home = home_of(package, name, packages)
                found.setdefault(f"{obj.__module__}.{obj.__qualname__}", home)
                found.setdefault(f"{package}.{name}", home)
    return found


def exported_classes(packages: list[str]) -> set[type]:
    found: set[type] = set()
    for package in packages:
        module = importlib.import_module(package)
        found.update(
            obj for name in public_names(package) if inspect.isclass(obj := getattr(module, name))
        )
    return found


def imported_names(packages: list[str]) -> dict[str, dict[str, str]]:
    """For each of jobgraph's modules, what each name it imports stands for (``st`` for
    ``hypothesis.strategies``, ``Console`` for ``rich.console.Console``), including imports
    made for type checking only, whose names type hints then use unqualified."""
    modules: dict[str, dict[str, str]] = {}
    for root in sorted({package.split(".", 1)[0] for package in packages}):
        top = Path(importlib.import_module(root).__file__ or "").parent
        for path in sorted(top.rglob("*.py")):
            parts = path.relative_to(top.parent).with_suffix("").parts
            here = list(parts[:-1])  # the package holding this module
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found = modules.setdefault(name, {})
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.asname:
                            found.setdefault(alias.asname, alias.name)
                elif isinstance(node, ast.ImportFrom):
                    base = node.module or ""
                    if node.level:
                        anchor = here[: len(here) - node.level + 1]
                        base = ".".join([*anchor, base] if base else anchor)
                    for alias in node.names:
                        found.setdefault(alias.asname or alias.name, f"{base}.{alias.name}")
    return modules


def defined_names(packages: list[str]) -> dict[str, set[str]]:
    """For each of jobgraph's modules, the names its top level defines (classes,
    functions, assignments such as type aliases)."""
    modules: dict[str, set[str]] = {}
    for root in sorted({package.split(".", 1)[0] for package in packages}):
        top = Path(importlib.import_module(root).__file__ or "").parent
        for path in sorted(top.rglob("*.py")):
            parts = path.relative_to(top.parent).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found = modules.setdefault(name, set())
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    found.add(node.name)
                elif isinstance(node, ast.Assign):
                    found.update(t.id for t in node.targets if isinstance(t, ast.Name))
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                    found.add(node.target.id)
    return modules


def hide_private_bases(app: Sphinx, name: str, obj: Any, options: Any, bases: list[Any]) -> None:
    """Bases shown are exported or foreign classes; private helpers (mixins) are not
    shown, and their members are documented on the class itself."""
    exported: set[type] = app.env.jobgraph_exported  # type: ignore[attr-defined]
    bases[:] = [b for b in bases if not (inspect.isclass(b) and is_private_helper(b, exported))]


# --- references ----------------------------------------------------------------------------


def inventory_of(target: str) -> str | None:
    """The intersphinx inventory that documents another project's name: ``"python"``
    for the standard library and builtins, the project's own (``"anyio"``...), or ``""``
    for a project without one (pydot, sniffio); None for a name that is not foreign."""
    root = target.split(".", 1)[0]
    if root in sys.stdlib_module_names or (target == root and hasattr(builtins, root)):
        return "python"
    if root in EXTERNAL_ROOTS:
        return root if root in INVENTORIES else ""
    return None


def is_external(target: str) -> bool:
    return inventory_of(target) is not None


def expand(target: str, aliases: dict[str, str]) -> str:
    root, dot, rest = target.partition(".")
    if root in aliases and not is_external(root):
        return aliases[root] + dot + rest
    return target


def public_target(target: str, mapping: dict[str, str]) -> str | None:
    """The public name of ``target`` (or of the class it is a member of), if exported."""
    parts = target.split(".")
    for cut in range(len(parts), 1, -1):
        public = mapping.get(".".join(parts[:cut]))
        if public is not None:
            return ".".join([public, *parts[cut:]])
    return None


def inherited_member(node: pending_xref, mapping: dict[str, str]) -> str | None:
    """``:meth:`result``` written in a class that inherits ``result`` from an exported
    base: the base's entry (``jobgraph.compat.asynciojobs.AbstractJob.result``)."""
    module_name, class_name = node.get("py:module"), node.get("py:class")
    member = node["reftarget"]
    if not module_name or not class_name or "." in member:
        return None
    cls: Any = sys.modules.get(module_name)
    for part in class_name.split("."):
        cls = getattr(cls, part, None)
    if not inspect.isclass(cls):
        return None
    for base in cls.__mro__:
        if member in vars(base):
            public = mapping.get(f"{base.__module__}.{base.__qualname__}")
            if public is not None:
                return f"{public}.{member}"
    return None


def resolve_reference(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.TextElement
) -> nodes.Node | None:
    """Settles a Python reference that the domain could not resolve, in this order:

    0. a member named in a class's docstring but documented on an exported base class
       (``:meth:`result``` in a subclass): the base's entry;
    1. a private path to an exported object (``jobgraph._job.AbstractJob``, or a name the
       code imports for type checking): the object's public entry (``jobgraph.AbstractJob``);
    2. any other name of jobgraph's private modules (helpers that are not API, like the
       ``Requirement`` alias that ``requires=`` takes): code text, without a link;
    3. another project's name (the standard library, anyio, trio, asyncssh, hypothesis,
       rich, pydot): through intersphinx when online, code text offline.

    Anything else stays unresolved: a warning, which ``-W`` turns into an error.
    """
    if node.get("refdomain") != "py":
        return None
    mapping: dict[str, str] = env.jobgraph_public  # type: ignore[attr-defined]
    target = expand(node["reftarget"], env.jobgraph_any_alias)  # type: ignore[attr-defined]
    public = public_target(target, mapping) or inherited_member(node, mapping)
    if public is not None:
        found = env.get_domain("py").resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], public, node, contnode
        )
        if found is not None:
            return found
    if target.split(".", 1)[0] in ("jobgraph", "jobgraph_ssh") and is_private_module(target):
        return contnode
    return resolve_foreign(app, env, node, contnode, target)


def log_foreign(inventory: str, target: str, role: str) -> None:
    """With ``JOBGRAPH_DOCS_FOREIGN_LOG=FILE``, add ``inventory target role`` to FILE: the
    names an offline build left unlinked, from which a test makes stand-in inventories
    to check that a build with inventories links every one of them."""
    log = os.environ.get("JOBGRAPH_DOCS_FOREIGN_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as file:
            file.write(f"{inventory} {target} {role}\n")


def resolve_foreign(
    app: Sphinx,
    env: BuildEnvironment,
    node: pending_xref,
    contnode: nodes.TextElement,
    target: str,
) -> nodes.Node | None:
    """Rule 3 of :func:`resolve_reference`: another project's name."""
    inventory = inventory_of(target)
    if inventory is None:
        return None
    if inventory not in app.config.intersphinx_mapping:
        if inventory:
            log_foreign(inventory, target, node["reftype"])
        return contnode  # offline, or a project without an inventory: code text
    if target != node["reftarget"]:  # a name the code imports under another name
        from sphinx.ext.intersphinx import missing_reference

        retry = node.deepcopy()
        retry["reftarget"] = target
        return missing_reference(app, env, retry, contnode)
    return None  # intersphinx, which ran first, did not find it: a real mistake


# --- autodoc and napoleon quirks -----------------------------------------------------------


def fix_signature(  # noqa: PLR0917 - the signature of Sphinx's event
    app: Sphinx,
    what: str,
    name: str,
    obj: Any,
    options: Any,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str | None, str | None] | None:
    """Dataclass fields with a ``default_factory`` show ``<factory>`` as their default,
    which is not Python and breaks the parsing of the signature: show ``...`` instead."""
    if signature and "<factory>" in signature:
        return signature.replace("<factory>", "..."), return_annotation
    return None


def source_module(obj: Any, definitions: dict[str, set[str]]) -> str | None:
    """The module whose source defines a class or function. Not always its
    ``__module__``: ``fixup_module_metadata`` sets that to the public package."""
    name = getattr(obj, "__name__", None)
    for module_name, names in definitions.items():
        module = sys.modules.get(module_name)
        if name in names and module is not None and vars(module).get(name) is obj:
            return module_name
    return getattr(obj, "__module__", None)


def defining_module(
    module_name: str, fullname: str, definitions: dict[str, set[str]]
) -> str | None:
    """The module whose source holds the documented object (for a member, the class that
    defines it, which may be a mixin elsewhere)."""
    obj: Any = sys.modules.get(module_name)
    owner = obj
    for part in fullname.split("."):
        if inspect.isclass(obj):
            owner = next((c for c in obj.__mro__ if part in vars(c)), obj)
        obj = getattr(obj, part, None)
        if obj is None:
            break
    target = owner if inspect.isclass(owner) or obj is None else obj
    if inspect.ismodule(target):
        return target.__name__
    return source_module(target, definitions)


def qualify_hints(app: Sphinx, doctree: nodes.document) -> None:
    """A type hint naming a class imported for type checking only stays a bare name
    (``Scheduler``), which may match several entries (``jobgraph.Scheduler`` and
    ``jobgraph.compat.asynciojobs.Scheduler``). Qualify it with what the name stands for
    in the module that defines the documented object."""
    imports: dict[str, dict[str, str]] = app.env.jobgraph_aliases  # type: ignore[attr-defined]
    definitions: dict[str, set[str]] = app.env.jobgraph_definitions  # type: ignore[attr-defined]
    mapping: dict[str, str] = app.env.jobgraph_public  # type: ignore[attr-defined]
    for node in doctree.findall(pending_xref):
        target = node.get("reftarget", "")
        if node.get("refdomain") != "py" or not target or not target[0].isupper():
            continue
        signature = described_signature(node)
        if signature is None or not signature.get("module"):
            continue
        module = defining_module(signature["module"], signature.get("fullname", ""), definitions)
        root, dot, rest = target.partition(".")
        full = imports.get(module or "", {}).get(root)
        if full is None and root in definitions.get(module or "", set()):
            full = f"{module}.{root}"  # a name of that module: a class, a type alias...
        if full is None:
            continue
        public = public_target(full + dot + rest, mapping)
        if public:
            node["reftarget"] = public
            node["refspecific"] = False
        elif is_private_module(full) or is_external(full):
            # a private alias (``TypeSpec``): rule 2, code text; another project's name
            # imported for type checking (``LocalCluster``): rule 3
            node["reftarget"] = full + dot + rest
            node["refspecific"] = False


def described_signature(node: nodes.Node) -> desc_signature | None:
    """The signature of the object whose description holds ``node`` (in its signature,
    or in its docstring)."""
    parent = node.parent
    while parent is not None:
        if isinstance(parent, desc_signature):
            return parent
        if isinstance(parent, desc):
            return next(iter(parent.findall(desc_signature)), None)
        parent = parent.parent
    return None


def is_prose(text: str) -> bool:
    return " " in text.strip() and not any(c in text for c in "[|`,.")


def keep_prose_first_line(  # noqa: PLR0917 - the signature of Sphinx's event
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """napoleon reads ``Words: more words`` on the first line of an attribute or property
    docstring as ``type: description``, and emits ``:type: Words``. A "type" made of
    several words is prose: put it back at the start of the description (this runs after
    napoleon)."""
    if what not in ("attribute", "property", "data"):
        return
    for index, line in enumerate(lines):
        if line.startswith(":type: ") and is_prose(line[len(":type: ") :]):
            prose = line[len(":type: ") :]
            del lines[index]
            if index and not lines[index - 1]:
                del lines[index - 1]
            first = next(n for n, text in enumerate(lines) if text.strip())
            lines[first] = f"{prose}: {lines[first].lstrip()}"
            return


# --- the gallery ---------------------------------------------------------------------------

GALLERY_DIR = "_generated/gallery"  # under docs/, not committed (see .gitignore)


def load_make_images(srcdir: Path) -> Any:
    spec = importlib.util.spec_from_file_location("make_images", srcdir / "make_images.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render_gallery(app: Sphinx) -> None:
    """Run each scene of ``make_images.GALLERY`` and draw it, before the pages are read."""
    srcdir = Path(app.srcdir)
    if not (srcdir / "make_images.py").is_file():
        return
    if shutil.which("dot") is None:
        raise ExtensionError("the gallery needs graphviz's dot: apt-get install graphviz")
    make_images = load_make_images(srcdir)
    make_images.render_gallery(srcdir / GALLERY_DIR)
    app.env.jobgraph_gallery = [  # type: ignore[attr-defined] # plain data: the env is pickled
        (stem, title, text, build.__name__) for stem, title, text, build in make_images.GALLERY
    ]


class Gallery(Directive):
    """``.. jobgraph-gallery::``: one section per scene of ``make_images.GALLERY``: what
    it shows, the code that builds it, its graph and its timeline after the run."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        env = self.state.document.settings.env
        source = self.state.document.current_source or ""
        lines: list[str] = []
        for stem, title, text, function in env.jobgraph_gallery:
            lines += [title, "-" * len(title), "", text, ""]
            lines += [".. literalinclude:: make_images.py", f"   :pyobject: {function}", ""]
            for part, what in (("graph", "The graph after the run"), ("timeline", "The run")):
                lines += [
                    f".. figure:: {GALLERY_DIR}/{stem}-{part}.svg",
                    f"   :alt: {title}: {what.lower()}",
                    "",
                    f"   {what}.",
                    "",
                ]
        content = StringList()
        for number, line in enumerate(lines):
            content.append(line, source, number)
        holder = nodes.section()
        holder.document = self.state.document
        nested_parse_with_titles(self.state, content, holder)
        return list(holder.children)


# --- setup -------------------------------------------------------------------------------


def builder_inited(app: Sphinx) -> None:
    packages = documented_packages(Path(app.srcdir) / "reference")
    app.env.jobgraph_public = public_map(packages)  # type: ignore[attr-defined]
    app.env.jobgraph_homes = home_map(packages)  # type: ignore[attr-defined]
    app.env.jobgraph_exported = exported_classes(packages)  # type: ignore[attr-defined]
    app.env.jobgraph_aliases = imported_names(packages)  # type: ignore[attr-defined]
    app.env.jobgraph_definitions = defined_names(packages)  # type: ignore[attr-defined]
    any_alias: dict[str, str] = {}  # what a name stands for in any module, first one wins
    for names in app.env.jobgraph_aliases.values():  # type: ignore[attr-defined]
        for alias, full in names.items():
            any_alias.setdefault(alias, full)
    app.env.jobgraph_any_alias = any_alias  # type: ignore[attr-defined]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("autopackage", AutoPackage)
    app.add_directive("jobgraph-gallery", Gallery)
    app.connect("builder-inited", builder_inited)
    app.connect("builder-inited", render_gallery)
    app.connect("autodoc-process-bases", hide_private_bases)
    app.connect("autodoc-process-signature", fix_signature)
    app.connect("doctree-read", qualify_hints)
    app.connect("autodoc-process-docstring", keep_prose_first_line, priority=600)
    app.connect("missing-reference", resolve_reference, priority=900)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
