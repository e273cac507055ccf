"""A job kind whose work is one call to a service."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from jobgraph import AbstractJob, JobDefinitionError

from ._policy import Caller
from ._pool import ServicePool

__all__ = ["ServiceCall"]


class ServiceCall(AbstractJob):
    """Call ``method`` of ``service`` in ``pool`` with ``kwargs``; the job's result is
    what the method returns, and its exception what the call raised.

    The caller the policy sees is named after the job's label (``host`` None: this
    process). The call is checked against the pool when the job is built: a service
    the pool does not have, a method it does not expose, a policy that refuses the
    job or arguments that do not fit raise there, before anything runs. Takes the
    usual job options (``label``, ``critical``, ``requires``, ``timeout``, ``retry``...).
    """

    def __init__(
        self,
        pool: ServicePool,
        service: str,
        method: str,
        kwargs: Mapping[str, Any] | None = None,
        /,
        **options: Any,
    ) -> None:
        if not isinstance(pool, ServicePool):
            raise JobDefinitionError(f"ServiceCall takes a ServicePool first, not {pool!r}")
        for what, value in (("service", service), ("method", method)):
            if not isinstance(value, str):
                raise JobDefinitionError(f"ServiceCall: {what} must be a str, not {value!r}")
        if kwargs is not None and not isinstance(kwargs, Mapping):
            raise JobDefinitionError(
                f"ServiceCall: kwargs must be a mapping of argument names to values, not {kwargs!r}"
            )
        self.pool = pool
        self.service = service
        self.method = method
        self.kwargs: Mapping[str, Any] = MappingProxyType(dict(kwargs or {}))
        super().__init__(**options)
        pool.check_call(service, method, self.kwargs, self.caller)

    @property
    def caller(self) -> Caller:
        """Who the service sees calling: this job, in this process."""
        return Caller(self.label or self.default_label())

    def default_label(self) -> str:
        return f"{self.service}.{self.method}"

    def details(self) -> str | None:
        arguments = ", ".join(f"{name}={value!r}" for name, value in self.kwargs.items())
        return f"calls {self.service}.{self.method}({arguments}) in pool {self.pool.label!r}"

    async def run(self) -> Any:
        return await self.pool.call(self.service, self.method, self.kwargs, caller=self.caller)
