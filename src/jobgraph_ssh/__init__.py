"""jobgraph_ssh: run commands on many hosts over SSH, as jobs of a jobgraph scheduler.

Built on asyncssh; works in schedulers run under asyncio and trio alike::

    import jobgraph as jg
    from jobgraph_ssh import SshNode, SshJob, Run, Shell, close_all

    gw = SshNode("gw.example.org", username="ops")
    hosts = [SshNode(f"n{i}", username="root", gateway=gw) for i in range(20)]
    jobs = [SshJob(h, Run("uname", "-r"), Shell("df -h / | tail -1")) for h in hosts]

    async def main() -> None:
        await jg.Scheduler(*jobs).run()
        await close_all(jobs)

Only public names of :mod:`jobgraph` are used here: this package is written the way
a user's extension would be.
"""

from __future__ import annotations

from jobgraph.lowlevel import fixup_module_metadata as _fixup_module_metadata

# first: asyncssh is imported quietly, or the missing extra is named
from ._asyncssh import _dependencies  # noqa: F401  # isort: split
from ._call import Call, CallResult, RemoteError
from ._commands import Command, CommandResult, Pull, Push, Run, RunScript, RunString, Shell
from ._deferred import Capture, Deferred, TemplateError, Variables
from ._errors import (
    AuthError,
    CommandFailedError,
    CommandTimeoutError,
    ConnectError,
    ConnectionLostError,
    HostKeyError,
    KeyFileError,
    SshError,
)
from ._formatters import (
    CaptureFormatter,
    FilePerHostFormatter,
    Formatter,
    HostFormatter,
    RawFormatter,
    Stream,
    TimestampFormatter,
)
from ._job import SshJob
from ._limits import Limits
from ._node import LocalNode, Node, SshNode, close_all
from ._options import SshOptions
from ._topology import topology_dot, write_topology


def set_limits(
    *,
    handshakes: int | None = None,
    channels: int | None = None,
    max_message: int | None = None,
    request_timeout: float | None = None,
    auth_timeout: float | None = None,
    idle_timeout: float | None = None,
    max_connections: int | None = None,
) -> Limits:
    """Change the process-wide limits; return them (unchanged when called without arguments).

    Each argument is a field of :class:`Limits` (see there); None keeps the value in
    force. These limits apply to every node without limits of its own
    (``SshOptions(limits=...)``), and ``handshakes`` to every handshake.

    Args:
        handshakes: SSH handshakes in flight at once in the process (default 8,
            below OpenSSH's ``MaxStartups`` 10). Applies to handshakes started after
            the call.
        channels: open channels per connection (default 8, below OpenSSH's
            ``MaxSessions`` 10), for connections opened after the call; a node's
            ``limits`` or ``max_channels`` overrides it.
        max_message: the largest request or reply on a service socket, in bytes.
        request_timeout: seconds a service request may take once begun.
        auth_timeout: seconds a new service connection has to send its first request.
        idle_timeout: seconds a service connection may stay idle.
        max_connections: service connections at once from one host.

    Returns:
        The limits in force after the call (a frozen :class:`Limits`).

    Raises:
        jobgraph.InvalidOptionError: a value :class:`Limits` refuses (the message
            names the argument).
    """
    from . import _limits
    from ._asyncssh import _connection

    given = {
        "handshakes": handshakes,
        "channels": channels,
        "max_message": max_message,
        "request_timeout": request_timeout,
        "auth_timeout": auth_timeout,
        "idle_timeout": idle_timeout,
        "max_connections": max_connections,
    }
    limits = _limits.replace_current(
        "set_limits", {name: value for name, value in given.items() if value is not None}
    )
    if handshakes is not None:
        _connection.reset_handshake_gates()
    return limits


__all__ = [
    "AuthError",
    "Call",
    "CallResult",
    "Capture",
    "CaptureFormatter",
    "Command",
    "CommandFailedError",
    "CommandResult",
    "CommandTimeoutError",
    "ConnectError",
    "ConnectionLostError",
    "Deferred",
    "FilePerHostFormatter",
    "Formatter",
    "HostFormatter",
    "HostKeyError",
    "KeyFileError",
    "Limits",
    "LocalNode",
    "Node",
    "Pull",
    "Push",
    "RawFormatter",
    "RemoteError",
    "Run",
    "RunScript",
    "RunString",
    "Shell",
    "SshError",
    "SshJob",
    "SshNode",
    "SshOptions",
    "Stream",
    "TemplateError",
    "TimestampFormatter",
    "Variables",
    "close_all",
    "set_limits",
    "topology_dot",
    "write_topology",
]

_fixup_module_metadata(__name__, globals())

# last, on a finished package: the services built on SshJob register its services= wiring
from . import services as _services  # noqa: E402, F401  # isort: skip
