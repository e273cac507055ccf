"""Services: long-lived objects that jobs call, with explicit exposure and access rules.

In the spirit of ``mitogen.service``: a :class:`Service` exposes chosen methods with
:func:`expose`, each under a :class:`Policy` (:class:`AllowAny`,
:class:`AllowParents`, :class:`AllowCallers`, or your own); :func:`arg_spec` checks
argument types. A :class:`ServicePool` runs services and routes calls to them;
:class:`ServiceCall` is a job whose work is one call. A
:class:`DeduplicatingService` shares and remembers the results of equal calls::

    from jobgraph import services as sv

    class Inventory(sv.Service):
        concurrency = 1                    # one call at a time

        def __init__(self) -> None:
            super().__init__()
            self.hosts: set[str] = set()

        @sv.expose(sv.AllowParents())
        @sv.arg_spec(host=str)
        async def register(self, host: str) -> int:
            self.hosts.add(host)
            return len(self.hosts)

    pool = sv.ServicePool([Inventory()])
    serve = pool.job()                     # a forever job running the pool
    calls = [sv.ServiceCall(pool, "Inventory", "register", {"host": h}, requires=serve)
             for h in ("a", "b")]
    jg.run(jg.Scheduler(serve, *calls))
"""

from jobgraph.lowlevel import fixup_module_metadata as _fixup_module_metadata

from ._exceptions import (
    AccessDeniedError,
    PoolClosedError,
    ServiceArgumentError,
    ServiceDefinitionError,
    ServiceError,
    UnknownServiceError,
)
from ._job import ServiceCall
from ._policy import AllowAny, AllowCallers, AllowParents, Caller, Policy
from ._pool import CallStats, ServicePool
from ._service import DeduplicatingService, Exposure, Service, arg_spec, expose

__all__ = [
    "AccessDeniedError",
    "AllowAny",
    "AllowCallers",
    "AllowParents",
    "CallStats",
    "Caller",
    "DeduplicatingService",
    "Exposure",
    "Policy",
    "PoolClosedError",
    "Service",
    "ServiceArgumentError",
    "ServiceCall",
    "ServiceDefinitionError",
    "ServiceError",
    "ServicePool",
    "UnknownServiceError",
    "arg_spec",
    "expose",
]

_fixup_module_metadata(__name__, globals())
