"""apssh's topology helpers: closing a scheduler's connections, drawing its nodes."""

from __future__ import annotations

import os
from typing import Any

import anyio

from jobgraph.compat import run_sync
from jobgraph_ssh import LocalNode as _NativeLocalNode
from jobgraph_ssh import topology_dot as _native_dot
from jobgraph_ssh import write_topology
from jobgraph_ssh.lowlevel import nodes_of

__all__ = [
    "close_ssh_in_scheduler",
    "co_close_ssh_in_scheduler",
    "topology_as_dotfile",
    "topology_as_pngfile",
    "topology_dot",
    "topology_graph",
]


async def co_close_ssh_in_scheduler(scheduler: Any, manage_gateways: bool = True) -> None:
    """Close the connections of the nodes the scheduler's jobs use (nested schedulers
    too), remotest first; with ``manage_gateways``, their gateways as well."""
    by_depth: dict[int, list[Any]] = {}
    for node in nodes_of([scheduler], with_gateways=manage_gateways):
        by_depth.setdefault(node.depth, []).append(node)
    for depth in sorted(by_depth, reverse=True):
        async with anyio.create_task_group() as group:
            for node in by_depth[depth]:
                group.start_soon(node.close)


def close_ssh_in_scheduler(scheduler: Any, manage_gateways: bool = True) -> None:
    """:func:`co_close_ssh_in_scheduler`, from synchronous code.

    Connections opened by a synchronous ``scheduler.run()`` are already closed when
    it returns (they lived on that run's event loop), so this returns at once then.
    """
    run_sync(lambda: co_close_ssh_in_scheduler(scheduler, manage_gateways))


def topology_dot(scheduler: Any) -> str:
    """The nodes a scheduler uses and their gateways ("x is the gateway to y"), in DOT."""
    return _native_dot(scheduler)


def topology_graph(scheduler: Any) -> Any:
    """The topology as a ``graphviz.Digraph`` (shown as a picture in notebooks): an
    edge from ``localhost`` to each node reached directly, from each gateway to the
    nodes behind it. Needs the ``graphviz`` Python package."""
    try:
        import graphviz
    except ImportError as exc:
        raise ImportError(
            "topology_graph needs the graphviz package (pip install graphviz)"
        ) from exc
    graph = graphviz.Digraph("topology")
    graph.node("localhost", shape="ellipse")
    for node in nodes_of([scheduler], with_gateways=True):
        if isinstance(node, _NativeLocalNode):
            continue
        graph.node(node.name, label=node.label, shape="box")
        graph.edge(node.gateway.name if node.gateway is not None else "localhost", node.name)
    return graph


def topology_as_dotfile(scheduler: Any, filename: str | os.PathLike[str]) -> None:
    """Write the topology, in DOT, to ``filename``."""
    with open(filename, "w") as file:
        file.write(topology_dot(scheduler))


def topology_as_pngfile(scheduler: Any, filename: str | os.PathLike[str]) -> str:
    """Draw the topology in ``<filename>.png`` (also writing ``<filename>.dot``) with
    graphviz's ``dot`` program; return the picture's file name."""
    base = os.fspath(filename)
    topology_as_dotfile(scheduler, base + ".dot")
    write_topology(base + ".png", scheduler)
    return base + ".png"
