"""The apssh 0.27 API on :mod:`jobgraph_ssh`: scripts written for apssh change only their
imports::

    from jobgraph.compat.asynciojobs import Scheduler, Sequence   # was: asynciojobs
    from jobgraph_ssh.compat.apssh import SshNode, SshJob, Run     # was: apssh

It is an adapter, not a second SSH implementation: nodes are native
:class:`jobgraph_ssh.SshNode` / :class:`~jobgraph_ssh.LocalNode` objects (one lazy,
shared connection per node, gateways, limits), commands are native commands whose
command line is built as apssh builds it (parts joined with spaces, not quoted),
and :class:`SshJob` is an asynciojobs-compat job. Schedulers holding them run under
asyncio and trio. As in apssh, host keys are not checked unless a node is given
``known_hosts``; ``set_host_key_policy("strict")`` turns the native check on for
every node made afterwards. The differences with apssh are listed in
``docs/migrating.md``.

As in apssh, each class lives in the submodule apssh has it in
(:mod:`~jobgraph_ssh.compat.apssh.formatters`, :mod:`~jobgraph_ssh.compat.apssh.nodes`,
:mod:`~jobgraph_ssh.compat.apssh.sshproxy`...), which its ``__module__`` names; this
package exports them all.
"""

from jobgraph.lowlevel import fixup_module_metadata as _fixup_module_metadata
from jobgraph_ssh import Capture, Deferred, Variables

from .commands import AbstractCommand, Pull, Push, Run, RunLocalStuff, RunScript, RunString
from .formatters import (
    CaptureFormatter,
    ColonFormatter,
    Formatter,
    HostFormatter,
    RawFormatter,
    SubdirFormatter,
    TerminalFormatter,
    TimeColonFormatter,
    TimeHostFormatter,
)
from .keys import import_private_key, load_agent_keys, load_private_keys
from .nodes import LocalNode, SshNode
from .service import Service
from .sshjob import CommandFailedError, SshJob
from .sshproxy import SshProxy, host_key_policy, set_host_key_policy
from .topology import (
    close_ssh_in_scheduler,
    co_close_ssh_in_scheduler,
    topology_as_dotfile,
    topology_as_pngfile,
    topology_dot,
    topology_graph,
)
from .yaml_loader import YamlLoader, YamlLoaderError

__version__ = "0.27.0"  # the apssh release whose API this package offers

__all__ = [
    "AbstractCommand",
    "Capture",
    "CaptureFormatter",
    "ColonFormatter",
    "CommandFailedError",
    "Deferred",
    "Formatter",
    "HostFormatter",
    "LocalNode",
    "Pull",
    "Push",
    "RawFormatter",
    "Run",
    "RunLocalStuff",
    "RunScript",
    "RunString",
    "Service",
    "SshJob",
    "SshNode",
    "SshProxy",
    "SubdirFormatter",
    "TerminalFormatter",
    "TimeColonFormatter",
    "TimeHostFormatter",
    "Variables",
    "YamlLoader",
    "YamlLoaderError",
    "__version__",
    "close_ssh_in_scheduler",
    "co_close_ssh_in_scheduler",
    "host_key_policy",
    "import_private_key",
    "load_agent_keys",
    "load_private_keys",
    "set_host_key_policy",
    "topology_as_dotfile",
    "topology_as_pngfile",
    "topology_dot",
    "topology_graph",
]

# Every name above is defined in the public submodule apssh defines it in (formatters,
# nodes, sshproxy...), which its __module__ reports, as apssh's do: this changes
# nothing unless a name comes from a private module (_errors) one day.
_fixup_module_metadata(__name__, globals())
