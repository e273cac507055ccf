"""The seam of :mod:`jobgraph_ssh` for other layers and for your own command kinds.

:mod:`jobgraph_ssh` is what a script uses; this module is what a package built on it
uses, as :mod:`jobgraph.lowlevel` is for the engine. The apssh drop-in, the remote
services and the ``jobgraph-ssh`` command use no private name of ``jobgraph_ssh``:
only these and the package's own (``tests/test_layers.py`` checks it).

- Running on asyncssh's side. asyncssh is an asyncio library; under trio, and for nodes
  whose connections live on the background loop, its calls run on jobgraph_ssh's
  asyncio loop. :func:`call` awaits an asyncio coroutine function there from asyncio or
  trio alike; everything below that touches a connection runs inside such a call. All
  of it comes from ``jobgraph_ssh/_asyncssh/``, the one folder of the package that
  imports asyncio, trio or asyncssh: a layer built on this module imports none of them.
- Connections. :func:`link_for` is a node's shared connection (a :class:`Link`: opened
  on first use, with its channel slots), :func:`limits_of` the
  :class:`~jobgraph_ssh.Limits` that apply to it, :func:`sftp_call` an SFTP session on
  it (and :func:`quiet_sftp_stragglers`, for an SFTP session of your own that was cut
  short); :class:`TransferFailed` is a failed transfer, which becomes a failed command
  result.
- Remote steps, as :class:`~jobgraph_ssh.services.PushFileService` takes them:
  :func:`run_line` runs a short command, :func:`put_atomic` uploads a file under a
  temporary name and renames it, :func:`rename_into_place` finishes a file put there by
  someone else (a relay).
- Serving the host's callers: :func:`acquire_endpoint` forwards a socket from the host
  back here on the node's connection (one :class:`Endpoint` per connection, shared by
  the jobs it serves, each a :class:`ServedJob`) and :func:`release_endpoint` ends a
  job's turn; what the bytes mean is the caller's :class:`EndpointRules` (with its
  :class:`ServingLimits`), plain Python (:mod:`jobgraph_ssh.services` gives its own).
- Keys: :func:`import_private_key` and :func:`read_private_key` (a
  :class:`KeyImportFailed` says whether the key is encrypted), :func:`agent_keys` (the
  SSH agent's).
- Output. :class:`OutputCollector` sends a command's lines to a formatter and keeps
  what ``keep_output`` asks (a :class:`Tail` of each stream), then gives a
  :class:`RawOutcome`.
- Commands. :class:`StagedCommand` is the base of commands that copy files to the node
  before they run (``RunScript``, ``RunString``): a subclass names its files and its
  command line (hooks ``join_line`` and ``remote_line``). :func:`resolve` renders a
  :class:`~jobgraph_ssh.Deferred` value (or returns a plain one) when a command runs.
- Nodes. :func:`nodes_of` lists the nodes of jobs, schedulers and nodes (gateways too,
  if asked); :data:`HOST_KEY_POLICIES` are the names ``host_key_policy`` accepts, and
  :data:`DEFAULT_CONNECT_TIMEOUT` the seconds :class:`~jobgraph_ssh.SshOptions` gives
  ``connect_timeout`` by default (the ``jobgraph-ssh`` command's default too).
- Jobs. :func:`wire_services` registers what ``SshJob(..., services=pool)`` runs
  through (a :class:`ServicesWiring`): :mod:`jobgraph_ssh.services` registers its own
  when imported, so the SshJob does not import the services built on it.

The public classes these take and return (:class:`~jobgraph_ssh.SshNode`,
:class:`~jobgraph_ssh.Node`, :class:`~jobgraph_ssh.Command`,
:class:`~jobgraph_ssh.CommandResult`, :class:`~jobgraph_ssh.SshJob`,
:class:`~jobgraph_ssh.SshError`, :class:`~jobgraph_ssh.Limits`) are re-exported here,
so that a module may import them while :mod:`jobgraph_ssh` itself is still being imported.
"""

from __future__ import annotations

from jobgraph.lowlevel import fixup_module_metadata as _fixup_module_metadata

from ._asyncssh._connection import (
    Link,
    OutputCollector,
    RawOutcome,
    Tail,
    TransferFailed,
    link_for,
    quiet_sftp_stragglers,
    sftp_call,
)
from ._asyncssh._glue import call
from ._asyncssh._keys import KeyImportFailed, agent_keys, import_private_key, read_private_key
from ._asyncssh._transfer import put_atomic, rename_into_place, run_line
from ._asyncssh._tunnel import (
    Endpoint,
    EndpointRules,
    ServedJob,
    ServingLimits,
    acquire_endpoint,
    release_endpoint,
)
from ._commands import Command, CommandResult, StagedCommand
from ._deferred import resolve
from ._errors import SshError
from ._job import ServicesWiring, SshJob, wire_services
from ._limits import Limits, limits_of
from ._node import Node, SshNode, nodes_of
from ._options import DEFAULT_CONNECT_TIMEOUT, HOST_KEY_POLICIES

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "HOST_KEY_POLICIES",
    "Command",
    "CommandResult",
    "Endpoint",
    "EndpointRules",
    "KeyImportFailed",
    "Limits",
    "Link",
    "Node",
    "OutputCollector",
    "RawOutcome",
    "ServedJob",
    "ServicesWiring",
    "ServingLimits",
    "SshError",
    "SshJob",
    "SshNode",
    "StagedCommand",
    "Tail",
    "TransferFailed",
    "acquire_endpoint",
    "agent_keys",
    "call",
    "import_private_key",
    "limits_of",
    "link_for",
    "nodes_of",
    "put_atomic",
    "quiet_sftp_stragglers",
    "read_private_key",
    "release_endpoint",
    "rename_into_place",
    "resolve",
    "run_line",
    "sftp_call",
    "wire_services",
]

# only the names first made public here: the re-exported ones report jobgraph_ssh
_REEXPORTED = {"Command", "CommandResult", "Node", "SshError", "SshJob", "SshNode"}
_fixup_module_metadata(
    __name__,
    {
        "__all__": [name for name in __all__ if name not in _REEXPORTED],
        **{name: globals()[name] for name in __all__},
    },
)
