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
from ._asyncssh._connection import Limits
from ._asyncssh._connection import limits as _limits
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
from ._node import LocalNode, Node, SshNode, close_all
from ._options import SshOptions
from ._topology import topology_dot, write_topology


def set_limits(*, handshakes: int | None = None, channels: int | None = None) -> Limits:
    """Set the process-wide limits; return them (unchanged when called without arguments).

    Args:
        handshakes: SSH handshakes in flight at once in the process (default 8,
            below OpenSSH's ``MaxStartups`` 10). Applies to handshakes started after
            the call.
        channels: default open channels per connection (default 8, below OpenSSH's
            ``MaxSessions`` 10), for connections opened after the call; a node's
            ``max_channels`` overrides it.

    Returns:
        The limits in force after the call, as a new :class:`Limits` (changing it
        changes nothing).

    Raises:
        jobgraph.InvalidOptionError: for a limit that is not a positive int.
    """
    import jobgraph as jg

    from ._asyncssh import _connection

    for name, value in (("handshakes", handshakes), ("channels", channels)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise jg.InvalidOptionError(f"set_limits: {name} must be a positive int, not {value!r}")
    if handshakes is not None:
        _limits.handshakes = handshakes
        _connection.reset_handshake_gates()
    if channels is not None:
        _limits.channels = channels
    return Limits(_limits.handshakes, _limits.channels)


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
