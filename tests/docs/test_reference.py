"""The API reference agrees with the code: every public package has a page, each page
documents exactly the names of the package's ``__all__``, and the site builds with no
warning at all (``-W``: a broken reference, a bad docstring, a stale page all fail)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re
import zlib
from pathlib import Path

import pytest

from .conftest import DOCS, Build

ROOTS = ("jobgraph", "jobgraph_ssh")


def documented_packages() -> list[str]:
    """The packages named by ``.. autopackage::`` in docs/reference/*.rst."""
    return [
        line.split("::", 1)[1].strip()
        for page in sorted((DOCS / "reference").glob("*.rst"))
        for line in page.read_text(encoding="utf-8").splitlines()
        if line.startswith(".. autopackage::")
    ]


def public_modules() -> list[str]:
    """Every importable package or module of jobgraph whose dotted name has no private
    part (``jobgraph.services``, not ``jobgraph._scheduler``)."""
    found = []
    for root in ROOTS:
        module = importlib.import_module(root)
        found.append(root)
        found += [
            info.name
            for info in pkgutil.walk_packages(module.__path__, prefix=f"{root}.")
            if not any(part.startswith("_") for part in info.name.split("."))
        ]
    return found


def exports(name: str) -> list[str]:
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), (
        f"public module {name} has no __all__: say what it exports (an empty list for "
        "nothing), or make it private (a leading underscore)"
    )
    return list(module.__all__)


def inventory(out: Path) -> dict[str, str]:
    """``objects.inv`` of the build: name -> role (``py:class``...)."""
    raw = (out / "objects.inv").read_bytes()
    header_end = 0
    for _ in range(4):  # four header lines, then zlib
        header_end = raw.index(b"\n", header_end) + 1
    entries: dict[str, str] = {}
    for line in zlib.decompress(raw[header_end:]).decode("utf-8").splitlines():
        name, role, *_rest = line.split(" ", 2)
        entries[name] = role
    return entries


def test_the_site_builds_without_a_warning(docs_build: Build) -> None:
    assert docs_build.returncode == 0, docs_build.warnings
    assert docs_build.warnings.strip() == ""
    for page in ("index", "engine", "views", "services", "testing", "migrating"):
        assert (docs_build.out / f"{page}.html").is_file(), page


def test_every_public_package_with_exports_has_a_reference_page() -> None:
    documented = set(documented_packages())
    assert {"jobgraph", "jobgraph.services", "jobgraph.testing"} <= documented
    for name in public_modules():
        if exports(name):
            assert name in documented, (
                f"{name} exports {exports(name)[:3]}... but has no reference page: add "
                f"docs/reference/{name}.rst holding '.. autopackage:: {name}'"
            )


def test_every_page_names_an_existing_package_with_exports() -> None:
    for name in documented_packages():
        assert exports(name), f"docs/reference/{name}.rst documents a package exporting nothing"


def homes(name: str) -> list[str]:
    """The documented packages that export the very object ``name`` stands for, under
    the same name (``jobgraph.AbstractJob`` is also ``jobgraph.lowlevel.AbstractJob``)."""
    package, _, short = name.rpartition(".")
    obj = getattr(importlib.import_module(package), short)
    return [
        other
        for other in documented_packages()
        if short in exports(other) and getattr(importlib.import_module(other), short) is obj
    ]


@pytest.mark.parametrize("package", documented_packages())
def test_reference_lists_exactly_the_exports(package: str, docs_build: Build) -> None:
    """Each exported name has exactly one entry: under this package, or under another
    package that exports the same object, which this page then links to."""
    assert docs_build.returncode == 0, docs_build.warnings
    entries = inventory(docs_build.out)
    documented = {
        name[len(package) + 1 :]
        for name, role in entries.items()
        if name.startswith(f"{package}.")
        and "." not in name[len(package) + 1 :]
        and role != "py:module"
    }
    page = (docs_build.out / "reference" / f"{package}.html").read_text(encoding="utf-8")
    module = importlib.import_module(package)
    elsewhere = set()
    for name in exports(package):
        if inspect.ismodule(getattr(module, name)):  # a module with a page of its own
            target = getattr(module, name).__name__
            assert entries.get(target) == "py:module", f"{package}.{name}: no page for {target}"
            assert f'href="{target}.html#module-{target}"' in page, f"{package}.{name}"
            elsewhere.add(name)
            continue
        owners = [other for other in homes(f"{package}.{name}") if f"{other}.{name}" in entries]
        assert len(owners) == 1, f"{package}.{name} is documented under {owners}, not once"
        if owners[0] != package:
            assert f'href="{owners[0]}.html#{owners[0]}.{name}"' in page, (
                f"{package}.{name} is documented as {owners[0]}.{name}, but the page of "
                f"{package} does not link to it"
            )
            elsewhere.add(name)
    missing = set(exports(package)) - documented - elsewhere
    stale = documented - set(exports(package))
    assert not missing, f"public names of {package} missing from the reference: {sorted(missing)}"
    assert not stale, f"names documented for {package} but not exported: {sorted(stale)}"
    assert entries[package] == "py:module"


def test_a_name_exported_twice_is_documented_where_its_module_says(docs_build: Build) -> None:
    """``jobgraph.lowlevel`` re-exports ``AbstractJob``, whose ``__module__`` is
    ``jobgraph``: one entry, ``jobgraph.AbstractJob``, and a link from lowlevel's page."""
    entries = inventory(docs_build.out)
    assert entries["jobgraph.AbstractJob"] == "py:class"
    assert "jobgraph.lowlevel.AbstractJob" not in entries
    assert "jobgraph.views.Progress" not in entries  # jobgraph claims it (also_from)
    assert entries["jobgraph.Progress"] == "py:class"
    lowlevel = (docs_build.out / "reference" / "jobgraph.lowlevel.html").read_text("utf-8")
    assert 'href="jobgraph.html#jobgraph.AbstractJob"' in lowlevel


def test_reference_entries_are_public_names(docs_build: Build) -> None:
    """Entries sit under the name users import (``jobgraph.Scheduler.run``); private
    paths (``jobgraph._scheduler.Scheduler``) appear only as aliases of those."""
    entries = inventory(docs_build.out)
    packages = sorted(documented_packages(), key=len, reverse=True)
    for name in entries:
        if not name.startswith(ROOTS) or any(p.startswith("_") for p in name.split(".")[:-1]):
            continue
        package = next((p for p in packages if name == p or name.startswith(f"{p}.")), None)
        assert package is not None, f"{name} is documented outside the reference pages"
        if name != package:
            assert name[len(package) + 1 :].split(".")[0] in exports(package), name


@pytest.mark.parametrize("package", documented_packages())
def test_every_exported_class_and_function_has_a_docstring(package: str) -> None:
    module = importlib.import_module(package)
    for name in exports(package):
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isroutine(obj):
            assert inspect.getdoc(obj), f"{package}.{name} has no docstring"


def test_members_of_exported_classes_are_documented(docs_build: Build) -> None:
    """Public methods a class gets from a private mixin are documented on the class."""
    entries = inventory(docs_build.out)
    assert entries["jobgraph.Scheduler.list"] == "py:method"  # from a private mixin
    assert entries["jobgraph.Scheduler.export_as_svgfile"] == "py:method"
    assert entries["jobgraph.services.ServicePool.call"] == "py:method"


def test_pictures_are_drawn_at_build_time(docs_build: Build) -> None:
    """The gallery runs and draws every scene of docs/make_images.py; the design page's
    picture is rendered by graphviz."""
    assert docs_build.returncode == 0, docs_build.warnings
    gallery = (docs_build.out / "gallery.html").read_text(encoding="utf-8")
    pictures = re.findall(r'<img alt="[^"]*" src="(_images/[^"]+\.svg)"', gallery)
    assert len(pictures) == 2 * len(gallery_scenes())
    for picture in pictures:
        assert "<svg" in (docs_build.out / picture).read_text(encoding="utf-8")
    design = (docs_build.out / "design.html").read_text(encoding="utf-8")
    drawing = re.search(r'data="(_images/graphviz-[0-9a-f]+\.svg)"', design)
    assert drawing is not None
    assert "<svg" in (docs_build.out / drawing.group(1)).read_text(encoding="utf-8")


def gallery_scenes() -> list[str]:
    spec = importlib.util.spec_from_file_location("make_images", DOCS / "make_images.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [scene[0] for scene in module.GALLERY]
