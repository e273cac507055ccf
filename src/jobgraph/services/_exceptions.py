"""What the service framework raises, all below :class:`~jobgraph.JobGraphError`.

::

    ServiceError                                  root of the service errors
    ├── ServiceDefinitionError (also TypeError)   a service, method or pool is defined wrongly
    ├── UnknownServiceError (also LookupError)    no such service, or the method is not exposed
    ├── AccessDeniedError (also PermissionError)  the method's policy refuses the caller
    ├── ServiceArgumentError (also TypeError)     the arguments do not fit the method
    └── PoolClosedError (also RuntimeError)       the pool is not running (or stopped mid-call)

Messages name the service, the method and, where it matters, the caller and the
argument at fault. An exception raised by the method itself reaches the caller
unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobgraph import JobGraphError

if TYPE_CHECKING:
    from ._policy import Caller

__all__ = [
    "AccessDeniedError",
    "PoolClosedError",
    "ServiceArgumentError",
    "ServiceDefinitionError",
    "ServiceError",
    "UnknownServiceError",
]


class ServiceError(JobGraphError):
    """Root of the errors raised by the service framework itself."""


class ServiceDefinitionError(ServiceError, TypeError):
    """A service class, an exposed method, an argument spec or a pool is malformed."""


class UnknownServiceError(ServiceError, LookupError):
    """The pool has no service of that name, or the service does not expose that method."""


class AccessDeniedError(ServiceError, PermissionError):
    """The policy of the method refuses this caller.

    Args:
        message: the error text.
        caller: who asked (also the attribute ``caller``).
        service: the service's name (attribute ``service``).
        method: the method's name (attribute ``method``).
    """

    def __init__(self, message: str, *, caller: Caller, service: str, method: str) -> None:
        self.caller = caller
        self.service = service
        self.method = method
        super().__init__(message)


class ServiceArgumentError(ServiceError, TypeError):
    """The arguments of a call are missing, unexpected, or of the wrong type.

    Args:
        message: the error text.
        argument: the name of the first argument at fault (None when no one is); kept
            as the attribute ``argument``.
    """

    def __init__(self, message: str, *, argument: str | None = None) -> None:
        self.argument = argument
        super().__init__(message)


class PoolClosedError(ServiceError, RuntimeError):
    """The pool is not running, or stopped while the call was in progress."""
