"""Who may call what: callers and access policies.

A :class:`Caller` says who is calling: a name (a job's label) and the host it runs
on, ``None`` for this process. Callers in this process are *parents*: they are the
program that owns the pool. Callers on other hosts (jobs run over SSH calling back)
are children, trusted only where a policy says so.

Each exposed method carries one :class:`Policy`. The pool asks it before it looks
at the arguments, so a refused caller learns nothing about them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._exceptions import ServiceDefinitionError

if TYPE_CHECKING:
    from ._service import Service

__all__ = ["AllowAny", "AllowCallers", "AllowParents", "Caller", "Policy"]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls a service.

    Attributes:
        name: a job label, or ``"local"`` (default).
        host: the host the caller runs on; None (default) for this process.

    Raises:
        ServiceDefinitionError: ``name`` is not a non-empty str, or ``host`` is neither
            None nor a non-empty str.
    """

    name: str = "local"
    host: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ServiceDefinitionError(
                f"a caller's name must be a non-empty str, not {self.name!r}"
            )
        if self.host is not None and (not isinstance(self.host, str) or not self.host):
            raise ServiceDefinitionError(
                f"a caller's host must be a non-empty str or None, not {self.host!r}"
            )

    @property
    def is_parent(self) -> bool:
        """True for a caller in this process, the one that owns the pool."""
        return self.host is None

    def __str__(self) -> str:
        return repr(self.name) if self.host is None else f"{self.name!r} on host {self.host!r}"


class Policy:
    """Decides whether a caller may call one exposed method. Subclasses implement
    :meth:`is_authorized`; ``a | b`` allows what either allows."""

    __slots__ = ()

    def is_authorized(self, caller: Caller, service: Service, method: str) -> bool:
        """Whether ``caller`` may call ``method`` of ``service``.

        The base class raises :class:`NotImplementedError`; subclasses implement it.

        Args:
            caller: who calls.
            service: the service called.
            method: the name of the exposed method.

        Returns:
            True to let the call through.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement is_authorized()")

    def describe(self) -> str:
        """Who the policy lets in, in a few words (used in listings and errors).

        Returns:
            A short phrase; the base class gives the class name.
        """
        return type(self).__name__

    def __or__(self, other: Policy) -> Policy:
        if not isinstance(other, Policy):
            return NotImplemented
        return _Either(self, other)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.describe()}>"


class AllowAny(Policy):
    """Any caller, local or remote."""

    __slots__ = ()

    def is_authorized(self, caller: Caller, service: Service, method: str) -> bool:
        return True

    def describe(self) -> str:
        return "any caller"


class AllowParents(Policy):
    """Only callers in this process (the program that owns the pool and its local jobs)."""

    __slots__ = ()

    def is_authorized(self, caller: Caller, service: Service, method: str) -> bool:
        return caller.is_parent

    def describe(self) -> str:
        return "callers in this process"


class AllowCallers(Policy):
    """Callers chosen by name, by host, or by a predicate on the :class:`Caller`.

    A caller is allowed if its name is in ``names``, or its host in ``hosts``, or
    ``where(caller)`` is true.

    Args:
        names: caller names to let in (an iterable of non-empty str, not one str).
        hosts: hosts whose callers are let in (likewise).
        where: a predicate on the caller, or None.

    Raises:
        ServiceDefinitionError: ``names`` or ``hosts`` is a single str or holds
            something else than non-empty str, or ``where`` is not callable.
    """

    __slots__ = ("hosts", "names", "where")

    def __init__(
        self,
        names: Iterable[str] = (),
        *,
        hosts: Iterable[str] = (),
        where: Callable[[Caller], bool] | None = None,
    ) -> None:
        self.names = _strings("names", names)
        self.hosts = _strings("hosts", hosts)
        if where is not None and not callable(where):
            raise ServiceDefinitionError(f"where must be a callable or None, not {where!r}")
        self.where = where

    def is_authorized(self, caller: Caller, service: Service, method: str) -> bool:
        if caller.name in self.names or (caller.host is not None and caller.host in self.hosts):
            return True
        return self.where is not None and bool(self.where(caller))

    def describe(self) -> str:
        parts = []
        if self.names:
            parts.append("callers named " + ", ".join(sorted(map(repr, self.names))))
        if self.hosts:
            parts.append("callers on " + ", ".join(sorted(map(repr, self.hosts))))
        if self.where is not None:
            parts.append(f"callers accepted by {getattr(self.where, '__qualname__', self.where)}")
        return " or ".join(parts) or "no caller"


def _strings(what: str, values: Iterable[str]) -> frozenset[str]:
    if isinstance(values, str | bytes):
        raise ServiceDefinitionError(
            f"AllowCallers: {what} must be an iterable of str (a list or a set), not the "
            f"single value {values!r}"
        )
    try:
        chosen = frozenset(values)
    except TypeError:
        raise ServiceDefinitionError(
            f"AllowCallers: {what} must be an iterable of str, not {values!r}"
        ) from None
    wrong = [value for value in chosen if not isinstance(value, str) or not value]
    if wrong:
        raise ServiceDefinitionError(
            f"AllowCallers: {what} must be non-empty str, not {wrong[0]!r}"
        )
    return chosen


class _Either(Policy):
    __slots__ = ("first", "second")

    def __init__(self, first: Policy, second: Policy) -> None:
        self.first = first
        self.second = second

    def is_authorized(self, caller: Caller, service: Service, method: str) -> bool:
        return self.first.is_authorized(caller, service, method) or self.second.is_authorized(
            caller, service, method
        )

    def describe(self) -> str:
        return f"{self.first.describe()} or {self.second.describe()}"
