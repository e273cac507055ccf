"""apssh's module nodes: :class:`SshNode` (a remote host, logged into as ``root`` unless
told otherwise) and :class:`LocalNode` (this host), as native nodes."""

from __future__ import annotations

import os
from typing import Any

from jobgraph_ssh import LocalNode as _NativeLocalNode

from .formatters import HostFormatter, _FormatterSlot
from .sshproxy import SshProxy, _apply_verbose

__all__ = ["LocalNode", "SshNode"]


class SshNode(SshProxy):
    """An :class:`SshProxy` whose ``username`` defaults to ``root``, as apssh's."""

    def __init__(
        self, hostname: str, *, username: str | None = None, keys: Any = None, **kwds: Any
    ) -> None:
        super().__init__(hostname, username=username or "root", keys=keys, **kwds)

    def distance(self) -> int:
        """Hops from here: 1 without a gateway, one more than the gateway's otherwise."""
        gateway = self.gateway
        return 1 if not isinstance(gateway, SshNode) else gateway.distance() + 1


class LocalNode(_NativeLocalNode):
    """This host, as apssh's ``LocalNode``: commands run as local processes.

    ``formatter`` is an apssh formatter (default :class:`HostFormatter`); ``verbose``,
    if not None, is set on it. As in apssh, its lines are labelled ``LOCALNODE``, and
    its user is the login name, or ``LOCALUSER`` when there is none (no terminal).
    """

    formatter = _FormatterSlot()
    debug = False

    def __init__(self, formatter: Any = None, verbose: bool | None = None) -> None:
        super().__init__()
        self.hostname = "LOCALNODE"
        try:
            self.username = os.getlogin()
        except OSError:
            self.username = "LOCALUSER"
        self.formatter = formatter if formatter is not None else HostFormatter()
        _apply_verbose(self.formatter.target, verbose)
        self.verbose = verbose

    def __str__(self) -> str:
        return "LocalNode"

    def is_connected(self) -> bool:
        """Always True: nothing to connect to."""
        return True
