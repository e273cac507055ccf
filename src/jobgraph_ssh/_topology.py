"""The topology of nodes and gateways a scheduler uses, as DOT or as a picture."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

from ._node import LocalNode, nodes_of

__all__ = ["topology_dot", "write_topology"]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def topology_dot(*things: Any, name: str = "topology") -> str:
    """The nodes used by jobs, schedulers or nodes given, and their gateways, in DOT.

    The local host is drawn once, as the root: an edge goes from it to each node
    reached directly, and from each gateway to the nodes behind it. A node is named
    by its :attr:`~Node.name` and shown with its :attr:`~Node.label`. Nothing is
    connected.

    Args:
        *things: nodes, jobs with a ``node`` (SshJob), schedulers (nested ones too)
            and iterables of these, as for :func:`close_all`.
        name: the graph's name in the DOT text.

    Returns:
        The DOT text (a ``digraph``, left to right), ending with a newline.
    """
    nodes = nodes_of(things, with_gateways=True)
    lines = [f"digraph {_quote(name)} {{", "  rankdir=LR;", "  node [shape=box];"]
    lines.append(f'  {_quote("localhost")} [shape=ellipse, label="localhost"];')
    seen = {"localhost"}
    for node in nodes:
        if isinstance(node, LocalNode):
            continue
        key = node.name
        if key not in seen:
            seen.add(key)
            lines.append(f"  {_quote(key)} [label={_quote(node.label)}];")
    edges: dict[tuple[str, str], None] = {}
    for node in nodes:
        if isinstance(node, LocalNode):
            continue
        source = node.gateway.name if node.gateway is not None else "localhost"
        edges[source, node.name] = None
    lines.extend(f"  {_quote(a)} -> {_quote(b)};" for a, b in edges)
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_topology(path: str | os.PathLike[str], *things: Any, name: str = "topology") -> None:
    """Write the topology to ``path``: DOT text for ``.dot``, else a picture whose format
    is the suffix (``.png``, ``.svg``...), drawn by graphviz's ``dot`` program.

    Args:
        path: the file to write (replaced if it exists). A ``.dot`` or ``.gv``
            suffix, or none, writes the DOT text itself.
        *things: what to draw, as for :func:`topology_dot`.
        name: the graph's name.

    Raises:
        FileNotFoundError: ``dot`` is not installed (Debian: ``apt-get install graphviz``).
        subprocess.CalledProcessError: ``dot`` refused the format.
    """
    text = topology_dot(*things, name=name)
    target = os.fspath(path)
    suffix = os.path.splitext(target)[1].lstrip(".").lower() or "dot"
    if suffix in ("dot", "gv"):
        with open(target, "w") as file:
            file.write(text)
        return
    program = shutil.which("dot")
    if program is None:
        raise FileNotFoundError(
            "drawing a topology needs graphviz's 'dot' program (apt-get install graphviz)"
        )
    subprocess.run(  # noqa: S603 - a fixed program fed our own text
        [program, f"-T{suffix}", "-o", target], input=text, text=True, check=True
    )
