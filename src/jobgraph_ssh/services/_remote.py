"""The anyio side of remote calls: who calls (the job's identity), what they may
call (policies), and each call's trip to the pool and back as a reply."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.from_thread
import sniffio

import jobgraph as jg
from jobgraph import services as sv
from jobgraph_ssh import lowlevel
from jobgraph_ssh.lowlevel import CommandResult, Node, SshError, SshJob, SshNode

from . import _tunnel
from . import jobgraph_call as wire

if TYPE_CHECKING:
    from jobgraph_ssh.lowlevel import OutputCollector, RawOutcome

__all__ = [
    "TRANSPORTS",
    "WIRING",
    "AllowHosts",
    "AllowJobs",
    "RemoteCaller",
    "SshJobWiring",
    "host_of",
    "run_served",
]

T = TypeVar("T")

TRANSPORTS = ("auto", "unix", "tcp")
RELEASE_TIMEOUT = 10.0


def host_of(node: SshNode) -> str:
    """How callers and :class:`AllowHosts` name a node's host: ``hostname``, with
    ``:port`` when the port is not 22.

    Args:
        node: the node.

    Returns:
        Its host name as written when the node was made (no user, no DNS lookup),
        e.g. ``"web1"`` or ``"127.0.0.1:2222"``.
    """
    return node.hostname if node.port == 22 else f"{node.hostname}:{node.port}"


@dataclass(frozen=True, slots=True)
class RemoteCaller(sv.Caller):
    """A caller on a remote host, known by the SSH connection its call came through.

    ``name`` is the job's label and ``host`` its node's host (see :func:`host_of`);
    ``node`` is the node's full name (``user@host:port``), ``job_id`` identifies the
    :class:`~jobgraph_ssh.SshJob` object (two jobs with one label differ here), and
    ``gateways`` names the gateways the connection goes through, nearest first.
    None of it comes from the remote program: it cannot claim another identity.

    Attributes:
        name: the job's label.
        host: the node's host, as :func:`host_of` names it.
        node: the node's full name (``user@host:port``).
        job_id: ``id()`` of the SshJob object.
        gateways: the gateways' names, nearest to the host first.
    """

    node: str = ""
    job_id: int = 0
    gateways: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.name!r} (SSH job on host {self.host!r})"


class AllowHosts(sv.Policy):
    """Remote callers whose node is one of ``hosts``: host names as
    :func:`host_of` says (``"web1"``, ``"127.0.0.1:2222"``) or :class:`SshNode` objects.

    Callers in this process, and remote callers elsewhere, are refused.

    Args:
        hosts: an iterable of host names and SshNodes (a list, not a single host);
            names are compared as written, with no DNS lookup.

    Raises:
        jobgraph.services.ServiceDefinitionError: a single host rather than an
            iterable, or an item that is neither a non-empty str nor an SshNode.
    """

    __slots__ = ("hosts",)

    def __init__(self, hosts: Iterable[str | SshNode]) -> None:
        if isinstance(hosts, str | SshNode):
            raise sv.ServiceDefinitionError(
                f"AllowHosts takes an iterable of hosts (a list), not the single value {hosts!r}"
            )
        chosen: set[str] = set()
        for host in hosts:
            if isinstance(host, SshNode):
                chosen.add(host_of(host))
            elif isinstance(host, str) and host:
                chosen.add(host)
            else:
                raise sv.ServiceDefinitionError(
                    f"AllowHosts: a host is a non-empty str or an SshNode, not {host!r}"
                )
        self.hosts = frozenset(chosen)

    def is_authorized(self, caller: sv.Caller, service: sv.Service, method: str) -> bool:
        return isinstance(caller, RemoteCaller) and caller.host in self.hosts

    def describe(self) -> str:
        if not self.hosts:
            return "no remote host"
        return "remote callers on " + ", ".join(sorted(map(repr, self.hosts)))


class AllowJobs(sv.Policy):
    """Remote callers that belong to one of these :class:`~jobgraph_ssh.SshJob` objects
    (by identity, not by label).

    Args:
        jobs: the SshJob objects whose commands may call.

    Raises:
        jobgraph.services.ServiceDefinitionError: an item that is not an SshJob.
    """

    __slots__ = ("jobs",)

    def __init__(self, jobs: Iterable[SshJob]) -> None:
        self.jobs = tuple(jobs)
        for job in self.jobs:
            if not isinstance(job, SshJob):
                raise sv.ServiceDefinitionError(f"AllowJobs takes SshJob objects, not {job!r}")

    def is_authorized(self, caller: sv.Caller, service: sv.Service, method: str) -> bool:
        return isinstance(caller, RemoteCaller) and any(
            id(job) == caller.job_id for job in self.jobs
        )

    def describe(self) -> str:
        if not self.jobs:
            return "no remote job"
        return "remote callers of jobs " + ", ".join(repr(job.label) for job in self.jobs)


def _error(kind: str, message: str, **details: Any) -> dict[str, Any]:
    return {"ok": False, "error": {"kind": kind, "message": message, **details}}


class Session:
    """One SshJob's remote calls: its identity, its calls in progress."""

    def __init__(self, job: SshJob, node: SshNode, pool: sv.ServicePool) -> None:
        gateways = []
        gateway = node.gateway
        while gateway is not None:
            gateways.append(gateway.name)
            gateway = gateway.gateway
        self.pool = pool
        self.caller = RemoteCaller(
            name=job.label, host=host_of(node), node=node.name, job_id=id(job),
            gateways=tuple(gateways),
        )  # fmt: skip
        self.call_timeout = job.services_timeout
        self.scopes: set[anyio.CancelScope] = set()
        self.ended = False

    def end(self) -> None:
        self.ended = True
        for scope in self.scopes:
            scope.cancel()

    async def dispatch(self, request: dict[str, Any]) -> dict[str, Any]:
        """Make one call for the remote program; the reply's body (never raises)."""
        service, method = request["service"], request["method"]
        where = f"{service}.{method}"
        if self.ended:
            return _error(wire.ENDED, f"job {self.caller.name!r} has ended: its calls are refused")
        limits = [t for t in (request.get("timeout"), self.call_timeout) if t is not None]
        timeout = min(limits) if limits else None
        reply = _error(wire.ENDED, f"job {self.caller.name!r} ended during {where}")
        with anyio.CancelScope() as scope:
            self.scopes.add(scope)
            try:
                with anyio.move_on_after(timeout) as timer:
                    result = await self.pool.call(
                        service, method, request["kwargs"], caller=self.caller
                    )
                    reply = {"ok": True, "result": result}
                if timer.cancelled_caught:
                    reply = _error(
                        wire.TIMEOUT,
                        f"{where} did not finish within {timeout:g} s",
                        timeout=timeout,
                    )
            except Exception as exc:  # noqa: BLE001 - every error crosses the wire as a reply
                reply = self._error_reply(exc, service, method)
            finally:
                self.scopes.discard(scope)
        return reply

    def _error_reply(self, exc: Exception, service: str, method: str) -> dict[str, Any]:
        if isinstance(exc, sv.UnknownServiceError):
            return _error(wire.NOT_FOUND, str(exc), service=service, method=method)
        if isinstance(exc, sv.AccessDeniedError):
            policy = None
            with contextlib.suppress(sv.ServiceError):
                policy = self.pool.lookup(service, method)[1].policy.describe()
            return _error(wire.REFUSED, str(exc), policy=policy, caller=str(self.caller))
        if isinstance(exc, sv.ServiceArgumentError):
            return _error(wire.BAD_ARGUMENTS, str(exc), argument=exc.argument)
        if isinstance(exc, sv.PoolClosedError):
            return _error(wire.GONE, str(exc))
        return _error(  # the method's own exception
            wire.METHOD_ERROR, str(exc), type=type(exc).__name__, module=type(exc).__module__
        )


class _ServedNode(Node):
    """The job's node, seen by its commands: the same, plus the services' variables."""

    def __init__(self, node: SshNode, env: Mapping[str, str]) -> None:
        self._node = node
        self._env = dict(env)
        self.formatter = node.formatter
        self.depth = node.depth
        self.gateway = node.gateway
        self.staging_root = node.staging_root

    @property
    def name(self) -> str:
        return self._node.name

    @property
    def label(self) -> str:
        return self._node.label

    async def run_line(
        self,
        line: str,
        *,
        env: Mapping[str, str] | None,
        time_limit: float | None,
        collector: OutputCollector,
        x11: bool = False,
    ) -> RawOutcome:
        merged = {**self._env, **(env or {})}
        return await self._node.run_line(
            line, env=merged, time_limit=time_limit, collector=collector, x11=x11
        )

    async def push(self, local_paths: list[str], remote_dir: str, *, preserve: bool) -> None:
        await self._node.push(local_paths, remote_dir, preserve=preserve)

    async def pull(self, remote_paths: list[str], local_dir: str, *, preserve: bool) -> None:
        await self._node.pull(remote_paths, local_dir, preserve=preserve)

    async def stage(
        self, remote_dir: str, files: list[str], contents: dict[str, bytes], executable: str
    ) -> None:
        await self._node.stage(remote_dir, files, contents, executable)

    async def unstage(self, remote_dir: str) -> None:
        await self._node.unstage(remote_dir)

    async def close(self) -> None:
        await self._node.close()


async def run_served(job: SshJob, body: Callable[[Node], Awaitable[T]]) -> T:
    """Run ``body(node)`` while the job's node serves its remote calls: the node's
    endpoint knows the job's secret, and the node given to ``body`` adds the variables
    that lead there to every command. Afterwards, the job's calls are refused.

    What ``body`` raises comes out unchanged (not in an exception group).
    """
    node = job.node
    pool = job.services
    assert pool is not None
    if not isinstance(node, SshNode):
        raise jg.JobDefinitionError(
            f"job {job.label!r}: services= needs an SshNode (remote callers), not {node!r}"
        )
    session = Session(job, node, pool)
    outcome: list[T] = []
    failure: list[Exception] = []
    async with contextlib.AsyncExitStack() as stack:
        portal: anyio.from_thread.BlockingPortal | None = None
        if sniffio.current_async_library() != "asyncio":
            # under trio the connection lives on another thread's asyncio loop: calls
            # come back through a portal (its tasks run in this job's task group)
            portal = await stack.enter_async_context(anyio.from_thread.BlockingPortal())
        try:  # what fails in here is raised below, outside the portal's task group
            outcome.append(await _serve(job, node, session, portal, body))
        except Exception as exc:  # noqa: BLE001
            failure.append(exc)
    if failure:
        raise failure[0]
    return outcome[0]


async def _serve(
    job: SshJob,
    node: SshNode,
    session: Session,
    portal: anyio.from_thread.BlockingPortal | None,
    body: Callable[[Node], Awaitable[T]],
) -> T:
    handle = _tunnel.SessionHandle(
        secret=secrets.token_urlsafe(32),
        label=job.label,
        dispatch=session.dispatch,
        portal=portal,
    )
    try:
        limits = job.services_limits or lowlevel.limits_of(node)
        endpoint = await lowlevel.call(
            lowlevel.acquire_endpoint,
            node,
            handle,
            job.services_transport,
            lambda: _tunnel.Rules(node.name, limits),
        )
    except OSError as exc:
        raise SshError(
            node.name, f"cannot forward a socket back from the host for services: {exc}"
        ) from exc
    env = {
        wire.ADDRESS_VARIABLE: endpoint.address,
        wire.SECRET_VARIABLE: handle.secret_path,
        wire.CLIENT_VARIABLE: endpoint.client_path,
    }
    try:
        return await body(_ServedNode(node, env))
    finally:
        session.end()
        with anyio.CancelScope(shield=True), anyio.move_on_after(RELEASE_TIMEOUT):
            await lowlevel.call(lowlevel.release_endpoint, node, handle)


class SshJobWiring:
    """The services side of :class:`~jobgraph_ssh.SshJob`: its ``services*`` options
    checked, its commands run while its node serves their calls (registered with
    :func:`jobgraph_ssh.lowlevel.wire_services` by :mod:`jobgraph_ssh.services`)."""

    def check(
        self, job: SshJob, pool: object, transport: object, timeout: object, limits: object
    ) -> lowlevel.Limits | None:
        """See :meth:`jobgraph_ssh.lowlevel.ServicesWiring.check`."""
        if pool is not None and not isinstance(pool, sv.ServicePool):
            raise jg.InvalidOptionError(f"services must be a ServicePool or None, not {pool!r}")
        if pool is not None and not isinstance(job.node, SshNode):
            raise jg.JobDefinitionError(
                f"SshJob on {job.node.name}: services= needs an SshNode (its commands call "
                "back through the SSH connection)"
            )
        if transport not in TRANSPORTS:
            raise jg.InvalidOptionError(
                f"services_transport must be one of {', '.join(map(repr, TRANSPORTS))}, "
                f"not {transport!r}"
            )
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
        ):
            raise jg.InvalidOptionError(
                f"services_timeout must be a positive number or None, not {timeout!r}"
            )
        if limits is not None and not isinstance(limits, lowlevel.Limits):
            raise jg.InvalidOptionError(
                f"services_limits must be a jobgraph_ssh.Limits (or ServiceLimits, the same "
                f"class) or None, not {limits!r}"
            )
        return limits

    async def run(
        self, job: SshJob, body: Callable[[Node], Awaitable[list[CommandResult]]]
    ) -> list[CommandResult]:
        """See :meth:`jobgraph_ssh.lowlevel.ServicesWiring.run`."""
        return await run_served(job, body)


WIRING = SshJobWiring()
"""The wiring :mod:`jobgraph_ssh.services` registers for every SshJob."""
