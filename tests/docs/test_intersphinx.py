"""Links to other projects' documentation (intersphinx), checked without the network.

The checks build offline, where names of the standard library, anyio, trio, asyncssh,
hypothesis and rich are code text. A published build links them through each project's
inventory (``objects.inv``), which needs the network. What can be checked here: the
offline build records every such name it left unlinked; stand-in inventories listing
exactly those names (under the real documentation addresses of conf.py) are then given
to a second build through ``JOBGRAPH_DOCS_INVENTORIES``, which must link every one of
them, warning-free. A name spelt so that no inventory could ever hold it (an alias the
site does not expand, a role that does not fit) fails that second build.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import pytest

from .conftest import DOCS, Build, build_site

PROJECTS = ("python", "anyio", "trio", "asyncssh", "hypothesis", "rich")

# the object type an inventory gives a name, from the role that referred to it
OBJECT_TYPES = {
    "class": "py:class",
    "exc": "py:exception",
    "func": "py:function",
    "meth": "py:method",
    "attr": "py:attribute",
    "data": "py:data",
    "mod": "py:module",
    "obj": "py:data",
}


def addresses() -> dict[str, str]:
    """conf.py's INTERSPHINX: project -> documentation address."""
    source = (DOCS / "conf.py").read_text(encoding="utf-8")
    block = source[source.index("INTERSPHINX = {") : source.index("}", source.index("INTERSPHINX"))]
    return dict(re.findall(r'"(\w+)": "(https://[^"]+)"', block))


def write_inventory(path: Path, project: str, names: dict[str, str]) -> None:
    """An objects.inv (format 2) listing ``names`` (name -> object type)."""
    body = "".join(
        f"{name} {object_type} 1 api.html#$ -\n" for name, object_type in sorted(names.items())
    )
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        "# Version: 0\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    path.write_bytes(header.encode() + zlib.compress(body.encode()))


def unlinked(build: Build) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for line in build.foreign.read_text(encoding="utf-8").splitlines():
        project, name, role = line.split()
        found.setdefault(project, {})[name] = OBJECT_TYPES.get(role, "py:data")
    return found


def hrefs(out: Path) -> str:
    return "\n".join(
        match
        for page in out.rglob("*.html")
        for match in re.findall(r'href="(https://[^"]+)"', page.read_text(encoding="utf-8"))
    )


def test_conf_maps_the_projects_the_issue_names() -> None:
    assert set(addresses()) == set(PROJECTS)


def test_offline_build_links_no_other_project(docs_build: Build) -> None:
    assert docs_build.returncode == 0, docs_build.warnings
    links = hrefs(docs_build.out)
    for address in addresses().values():
        assert address not in links


@pytest.fixture(scope="module")
def linked_build(docs_build: Build, tmp_path_factory: pytest.TempPathFactory) -> Build:
    assert docs_build.returncode == 0, docs_build.warnings
    saved = tmp_path_factory.mktemp("inventories")
    for project, names in unlinked(docs_build).items():
        write_inventory(saved / f"{project}.inv", project, names)
    return build_site(tmp_path_factory.mktemp("docs-linked"), JOBGRAPH_DOCS_INVENTORIES=str(saved))


def test_every_name_left_unlinked_offline_links_with_inventories(
    docs_build: Build, linked_build: Build
) -> None:
    referred = unlinked(docs_build)
    # the docs do refer to each of these projects
    assert {"python", "anyio", "trio", "asyncssh", "hypothesis"} <= set(referred), referred
    assert linked_build.returncode == 0, linked_build.warnings
    assert linked_build.warnings.strip() == ""
    assert unlinked(linked_build) == {}, "names still unlinked with every inventory given"
    links = hrefs(linked_build.out)
    for project in referred:
        assert f"{addresses()[project]}/api.html#" in links, project
