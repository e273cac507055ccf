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
    """A job whose work is one call to a service: ``method`` of ``service`` in ``pool``.

    The job's result is what the method returns, and its exception what the call
    raised. The caller the policy sees is named after the job's label (``host`` None:
    this process). The call is checked against the pool when the job is built, before
    anything runs.

    Args:
        pool: the pool holding the service (it must be running when the job runs:
            require the pool's :meth:`~ServicePool.job`, or run inside ``async with``).
        service: the service's name.
        method: the exposed method's name.
        kwargs: its arguments, by name.
        **options: the usual job options (``label``, ``critical``, ``requires``,
            ``timeout``, ``retry``...).

    Raises:
        JobDefinitionError: ``pool`` is not a :class:`ServicePool`, a name is not a
            str, ``kwargs`` is not a mapping, or an option is invalid.
        UnknownServiceError: the pool has no such service or exposed method.
        AccessDeniedError: the method's policy refuses this job.
        ServiceArgumentError: ``kwargs`` do not fit the method.
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
