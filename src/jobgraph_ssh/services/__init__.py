"""Services across SSH: commands run by an :class:`~jobgraph_ssh.SshJob` call the
controller's :mod:`jobgraph.services`, and a service that pushes files to many hosts.

- ``SshJob(node, ..., services=pool)``: while the job runs, its SSH connection
  forwards a socket from the remote host back to this process; its commands find it
  (and the job's secret) through environment variables, and call the pool with the
  stdlib-only client :mod:`jobgraph_ssh.services.jobgraph_call`, copied there.
- A remote caller is a :class:`RemoteCaller`, known by the job and node its
  connection belongs to; :class:`AllowHosts` and :class:`AllowJobs` choose remote
  callers by host and by job.
- :class:`PushFileService`: push a file to many hosts, hashing it once, skipping
  hosts that hold it already, uploading atomically, relaying through gateways.

See ``docs/remote-services.md``.
"""

from __future__ import annotations

from pathlib import Path

from jobgraph.lowlevel import fixup_module_metadata as _fixup_module_metadata
from jobgraph_ssh import lowlevel as _lowlevel

from . import jobgraph_call as client
from ._push import PushFileService, PushStats, push_to_all
from ._remote import WIRING as _WIRING
from ._remote import AllowHosts, AllowJobs, RemoteCaller, host_of

_lowlevel.wire_services(_WIRING)  # SshJob(services=...) runs through this package

ServiceLimits = _lowlevel.Limits
"""The old name of :class:`jobgraph_ssh.Limits` (the same class), kept so that code
written when the service socket's limits had a class of their own still runs."""

CLIENT_PATH = Path(client.__file__)
"""The client module's path here (the file each job copies to its remote host)."""

__all__ = [
    "CLIENT_PATH",
    "AllowHosts",
    "AllowJobs",
    "PushFileService",
    "PushStats",
    "RemoteCaller",
    "ServiceLimits",
    "client",
    "host_of",
    "push_to_all",
]

_fixup_module_metadata(__name__, globals())
