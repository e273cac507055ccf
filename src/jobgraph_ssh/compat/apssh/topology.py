"""apssh's module topology (for imports like ``from apssh.topology import ...``)."""

from ._topology import (
    close_ssh_in_scheduler,
    co_close_ssh_in_scheduler,
    topology_as_dotfile,
    topology_as_pngfile,
    topology_dot,
    topology_graph,
)

__all__ = [
    "close_ssh_in_scheduler",
    "co_close_ssh_in_scheduler",
    "topology_as_dotfile",
    "topology_as_pngfile",
    "topology_dot",
    "topology_graph",
]
