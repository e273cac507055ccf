"""The options of an SSH connection, declared and checked once: :class:`SshOptions`.

:class:`~jobgraph_ssh.SshNode` holds one (``node.options``); the ``jobgraph-ssh``
command builds one from its flags, and the apssh drop-in from apssh's arguments.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jobgraph as jg

from ._asyncssh._connection import KILL_GRACE
from ._limits import Limits, check_count, check_seconds

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "HOST_KEY_POLICIES", "SshOptions"]

HOST_KEY_POLICIES = ("strict", "accept-new", "ignore")
DEFAULT_CONNECT_TIMEOUT = 30.0  # seconds; the jobgraph-ssh command's default too

_WHERE = "SshOptions"  # how the messages of SshOptions() name the culprit


@dataclasses.dataclass(frozen=True, kw_only=True)
class SshOptions:
    """How to reach and log in to an SSH host, and how to use its connection.

    Every value is checked when the object is made; ``dataclasses.replace`` (and
    ``SshNode(host, options=..., port=...)``, which uses it) checks again. The object is
    immutable and compares by value, so that nodes built from equal options connect
    the same way.

    Args:
        username: the remote user; None for the local user name.
        port: the SSH port (default 22).
        keys: private key files to offer (strings or paths; key objects already
            loaded, such as ``asyncssh.SSHKey``, are offered as they are); kept as a
            tuple (a single file name or path is taken as a one-file tuple); None for
            the SSH agent, then the default key files (``~/.ssh/id_*``).
        passphrase: the passphrase of encrypted key files (None: keys are not
            encrypted). A key file is read once per version, in a worker thread. Not
            shown by ``repr()``.
        connect_timeout: seconds for the TCP connection, handshake and authentication
            (default 30, as the ``jobgraph-ssh`` command's ``--connect-timeout``); None
            for no limit.
        keepalive_interval: seconds between keepalive messages, 0 for none (default).
        known_hosts: the known_hosts file (kept as a :class:`~pathlib.Path`); None for
            ``~/.ssh/known_hosts``.
        host_key_policy: ``"strict"`` (default: the key must be in known_hosts),
            ``"accept-new"`` (an unknown host's key is appended there; a changed key
            still fails), or ``"ignore"`` (no check at all, asked for by name). A key
            that fails the check raises :class:`~jobgraph_ssh.HostKeyError`, with its
            fingerprint.
        max_channels: commands and transfers at once on this connection (more wait
            for a slot); None for ``limits.channels``. A shortcut, kept for the
            scripts that use it: when given, it wins over ``limits.channels``.
        limits: this node's :class:`~jobgraph_ssh.Limits` (channels per connection,
            and the protections of its service socket); None for the process-wide
            ones (:func:`~jobgraph_ssh.set_limits`). They replace the process-wide set
            as a whole, except ``handshakes``: handshakes are counted for the whole
            process, so a node's ``handshakes`` is not used.
        kill_group: when a command is stopped (timeout, cancel), also kill its remote
            process group with ``kill`` through another channel (default True):
            SIGTERM, then SIGKILL after ``kill_grace`` seconds if a process of the
            group is still there (a detached remote ``sh`` loop waits, so nothing
            waits on this side). The remote shell reports its pid in a first stderr
            line, which is filtered out. Without it, the command only gets a TERM
            signal request, which OpenSSH ignores for root sessions, and a command
            that ignores SIGTERM keeps running. Needs a POSIX login shell.
        kill_grace: seconds a stopped command's process group gets between SIGTERM
            and SIGKILL (default 2; 0: SIGKILL at once).

    Raises:
        jobgraph.InvalidOptionError: naming the field: a port outside 1..65535, an
            unknown host_key_policy, a max_channels that is not a positive int,
            limits that are not a :class:`~jobgraph_ssh.Limits`, a
            kill_grace that is not a number >= 0, a connect_timeout or
            keepalive_interval that is not a finite number of seconds (or is negative;
            connect_timeout must be more than 0).
    """

    username: str | None = None
    port: int = 22
    keys: str | os.PathLike[str] | Sequence[str | os.PathLike[str] | Any] | None = None
    passphrase: str | None = dataclasses.field(default=None, repr=False)
    connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT
    keepalive_interval: float = 0.0
    known_hosts: str | os.PathLike[str] | None = None
    host_key_policy: str = "strict"
    max_channels: int | None = None
    limits: Limits | None = None
    kill_group: bool = True
    kill_grace: float = KILL_GRACE

    def __post_init__(self) -> None:
        fix = object.__setattr__  # frozen: values are normalised once, here
        fix(self, "kill_grace", checked_grace(self.kill_grace, _WHERE))
        port = self.port
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise jg.InvalidOptionError(f"{_WHERE}: port must be 1..65535, not {port!r}")
        keys = self.keys
        if isinstance(keys, str | os.PathLike):
            keys = [keys]
        if keys is not None:
            paths = (os.fspath(key) if isinstance(key, str | os.PathLike) else key for key in keys)
            fix(self, "keys", tuple(paths))
        check_seconds(_WHERE, "connect_timeout", self.connect_timeout, none="no limit")
        if self.known_hosts is not None:
            fix(self, "known_hosts", Path(self.known_hosts))
        if self.host_key_policy not in HOST_KEY_POLICIES:
            raise jg.InvalidOptionError(
                f"{_WHERE}: host_key_policy must be one of "
                f"{', '.join(map(repr, HOST_KEY_POLICIES))}, not {self.host_key_policy!r}"
            )
        check_count(_WHERE, "max_channels", self.max_channels, none=True)
        if self.limits is not None and not isinstance(self.limits, Limits):
            raise jg.InvalidOptionError(
                f"{_WHERE}: limits must be a jobgraph_ssh.Limits or None, not {self.limits!r}"
            )
        check_seconds(_WHERE, "keepalive_interval", self.keepalive_interval, zero="none")
        fix(self, "kill_group", bool(self.kill_group))


def with_overrides(base: SshOptions, where: str, overrides: dict[str, Any]) -> SshOptions:
    """``base`` with some fields replaced (checked again), its errors naming ``where``
    rather than SshOptions (``SshNode 'h': port must be...``).

    Raises:
        TypeError: a keyword that is not a field of SshOptions.
        jobgraph.InvalidOptionError: a value is refused (see :class:`SshOptions`).
    """
    if not overrides:
        return base
    for name in overrides:
        if name not in _FIELDS:
            raise TypeError(f"{where}: unexpected keyword argument {name!r}")
    try:
        return dataclasses.replace(base, **overrides)
    except jg.InvalidOptionError as exc:
        problem = str(exc).removeprefix(f"{_WHERE}: ")
        raise jg.InvalidOptionError(f"{where}: {problem}") from None


_FIELDS = frozenset(field.name for field in dataclasses.fields(SshOptions))


def checked_grace(grace: object, who: str) -> float:
    """``kill_grace`` as a float, or InvalidOptionError naming ``who``."""
    if (
        isinstance(grace, bool)
        or not isinstance(grace, int | float)
        or not math.isfinite(grace)
        or grace < 0
    ):
        raise jg.InvalidOptionError(f"{who}: kill_grace must be a number >= 0, not {grace!r}")
    return float(grace)
