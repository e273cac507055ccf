"""The limits of the SSH wing, declared and checked once: :class:`Limits`.

One frozen object holds what bounds a connection (handshakes in flight, channels open)
and what protects the socket that serves remote calls (message size, timeouts,
connections at once). The process has one current set (:func:`current`, changed by
:func:`jobgraph_ssh.set_limits`); a node may carry its own in
``SshOptions(limits=...)``, and a job with services in ``services_limits``.
:func:`limits_of` is the set that applies to a node's connection.

Plain Python: no event loop is touched here.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import jobgraph as jg

if TYPE_CHECKING:
    from ._node import SshNode

__all__ = [
    "Limits",
    "check_count",
    "check_seconds",
    "current",
    "limits_of",
    "replace_current",
]

DEFAULT_MAX_MESSAGE = 1 << 20  # bytes of JSON; the remote client's MAX_MESSAGE too


def check_count(where: str, name: str, value: object, *, none: bool = False) -> None:
    """Refuse a count that is not a positive int (None accepted when ``none``).

    Raises:
        jobgraph.InvalidOptionError: ``where: name must be a positive int..., not value``.
    """
    if value is None and none:
        return
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return
    other = " or None" if none else ""
    raise jg.InvalidOptionError(f"{where}: {name} must be a positive int{other}, not {value!r}")


def check_seconds(where: str, name: str, value: object, *, none: str = "", zero: str = "") -> None:
    """Refuse a duration that is not a finite number of seconds > 0 (None accepted when
    ``none`` says what it means, 0 when ``zero`` does).

    Raises:
        jobgraph.InvalidOptionError: ``where: name must be a number of seconds > 0...,
            not value``.
    """
    if value is None and none:
        return
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > 0 or (value == 0 and zero))
    ):
        return
    means = [f"0 for {zero}"] if zero else []
    means += [f"None for {none}"] if none else []
    other = f" ({', '.join(means)})" if means else ""
    raise jg.InvalidOptionError(
        f"{where}: {name} must be a number of seconds > 0{other}, not {value!r}"
    )


_COUNTS = ("handshakes", "channels", "max_message", "max_connections")
_SECONDS = ("request_timeout", "auth_timeout", "idle_timeout")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Limits:
    """What bounds SSH connections and the sockets that serve remote calls.

    Every value is checked when the object is made (``dataclasses.replace`` checks
    again); the object is immutable and compares by value. Fields are given by keyword
    only (``Limits(channels=4)``). Which set applies:

    - the process-wide one, :func:`~jobgraph_ssh.set_limits` (which returns it), for
      a node without limits of its own;
    - a node's own, ``SshOptions(limits=...)`` (or ``SshNode(host, limits=...)``), for
      its connection and its service socket: it replaces the process-wide set as a
      whole, except ``handshakes``, which only the process-wide set gives (a node's
      ``handshakes`` is not used). To change one field, start from the current set:
      ``dataclasses.replace(set_limits(), channels=2)``. The node's ``max_channels``,
      when given, is a shortcut that wins over ``limits.channels``;
    - a job's ``SshJob(..., services_limits=...)``, for the service socket of its
      node when that job opens it (only the service fields are used).

    ``jobgraph_ssh.services.ServiceLimits`` is the old name of this class (the same
    class), from when the service fields had a class of their own.

    Args:
        handshakes: SSH handshakes in flight at once in the whole process (default 8,
            below OpenSSH's ``MaxStartups`` 10, past which sshd drops new
            connections). Applies to handshakes started after
            :func:`~jobgraph_ssh.set_limits`; process-wide only.
        channels: open channels (commands, transfers) at once per connection; more
            wait for a slot (default 8, below OpenSSH's ``MaxSessions`` 10). Read when
            a connection's slots are made: the first time a node is used on an event
            loop.
        max_message: the largest request or reply on a service socket, in bytes of
            JSON (default 1 MiB); a longer request is refused as soon as its length is
            read.
        request_timeout: seconds a service request may take to arrive whole once its
            first byte came (default 10); a stalled caller is cut off.
        auth_timeout: seconds a new service connection has to send its first request
            whole (default 5); a connection whose first request does not carry a
            valid secret is closed.
        idle_timeout: seconds a service connection may stay idle between requests
            before it is closed (default 300).
        max_connections: service connections at once from the host (default 256);
            past it, a new one gets a ``busy`` error and is closed.

    Jobs with services on one node share one socket: the service limits in force
    when it opens apply until it closes (when no such job runs on the node). A
    refused request gets a ``protocol`` error, logged as a warning (logger
    ``jobgraph_ssh.services``).

    Raises:
        jobgraph.InvalidOptionError: naming the field and the value: a count
            (``handshakes``, ``channels``, ``max_message``, ``max_connections``) that
            is not a positive int, or a timeout that is not a finite number of seconds
            > 0.
    """

    handshakes: int = 8
    channels: int = 8
    max_message: int = DEFAULT_MAX_MESSAGE
    request_timeout: float = 10.0
    auth_timeout: float = 5.0
    idle_timeout: float = 300.0
    max_connections: int = 256

    def __post_init__(self) -> None:
        for name in _COUNTS:
            check_count("Limits", name, getattr(self, name))
        for name in _SECONDS:
            check_seconds("Limits", name, getattr(self, name))
            object.__setattr__(self, name, float(getattr(self, name)))  # frozen: once, here


_current = Limits()


def current() -> Limits:
    """The process-wide limits now in force."""
    return _current


def replace_current(where: str, changes: dict[str, object]) -> Limits:
    """Replace fields of the process-wide limits (checked); return the new set.

    Raises:
        TypeError: a name that is not a field of :class:`Limits`.
        jobgraph.InvalidOptionError: a value refused, the message naming ``where``.
    """
    global _current  # the process-wide set, replaced whole (it is frozen)
    for name in changes:
        if name not in _FIELDS:
            raise TypeError(f"{where}: unexpected keyword argument {name!r}")
    if not changes:
        return _current
    try:
        _current = dataclasses.replace(_current, **changes)  # type: ignore[arg-type]
    except jg.InvalidOptionError as exc:
        raise jg.InvalidOptionError(f"{where}: {str(exc).removeprefix('Limits: ')}") from None
    return _current


def limits_of(node: SshNode) -> Limits:
    """The limits that apply to ``node``'s connection and service socket now.

    Args:
        node: an SSH node.

    Returns:
        The node's own ``limits`` (else the process-wide ones), with the node's
        ``max_channels`` as ``channels`` when given, and the process-wide
        ``handshakes`` (handshakes are counted for the whole process).
    """
    options = node.options
    own = options.limits if options.limits is not None else _current
    channels = options.max_channels if options.max_channels is not None else own.channels
    if own.handshakes == _current.handshakes and own.channels == channels:
        return own
    return dataclasses.replace(own, handshakes=_current.handshakes, channels=channels)


_FIELDS = frozenset(field.name for field in dataclasses.fields(Limits))
