"""apssh's module topology (for imports like ``from apssh.topology import ...``)."""

from ._topology import (  # noqa: F401
    close_ssh_in_scheduler,
    co_close_ssh_in_scheduler,
    topology_as_dotfile,
    topology_as_pngfile,
    topology_dot,
    topology_graph,
)
