"""The I/O side of remote calls: one listener per node connection, forwarded from the
remote host back to the controller, shared by every job with services on that node.

Everything here runs on the asyncio loop of the node's connection (see
:func:`jobgraph_ssh.lowlevel.call`): the listener, each connection's reads with their
timeouts, the SFTP steps that put the client and the secrets in place. What the bytes
mean (framing, checks, refusals, replies, who may call) is plain Python, given by the
caller as an :class:`EndpointRules` (:mod:`jobgraph_ssh.services` gives its own). A call
is handed to the anyio side directly under asyncio, through the job's blocking portal
under trio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import asyncssh

from ._connection import Link, link_for

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal

    from jobgraph_ssh._node import SshNode

__all__ = [
    "Endpoint",
    "EndpointRules",
    "ServedJob",
    "ServingLimits",
    "acquire_endpoint",
    "release_endpoint",
]

log = logging.getLogger("jobgraph_ssh.services")


class ServedJob(Protocol):
    """What an endpoint knows of one job it serves (for example
    :mod:`jobgraph_ssh.services`' session handle).

    Attributes:
        secret: the secret its callers send with each request.
        label: the job's label, in messages.
        secret_path: where the endpoint wrote the secret on the host (set by it).
        portal: None if ``dispatch`` runs on the connection's loop (asyncio), else the
            blocking portal that runs it on the job's loop (trio).
    """

    secret: str
    label: str
    secret_path: str
    portal: BlockingPortal | None

    @property
    def dispatch(self) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
        """Makes one call: a request in, the reply's body out (never raises)."""
        ...


class ServingLimits(Protocol):
    """The timeouts and the connection count an endpoint enforces itself."""

    @property
    def request_timeout(self) -> float:
        """Seconds a request may take to arrive whole once its first byte came."""
        ...

    @property
    def auth_timeout(self) -> float:
        """Seconds a new connection has to send its first request whole."""
        ...

    @property
    def idle_timeout(self) -> float:
        """Seconds a connection may stay idle between requests."""
        ...

    @property
    def max_connections(self) -> int:
        """Connections at once from the host; past it, new ones are turned away."""
        ...


class EndpointRules(Protocol):
    """What an endpoint's bytes mean, without I/O: one object per endpoint, made by the
    caller of :func:`acquire_endpoint`, which also holds the jobs it serves.

    A request is a header of ``header_size`` bytes (its body's size), then its body.
    Methods that return ``dict`` return a reply's body (``{"ok": False, "error": ...}``
    for a refusal); methods that return ``bytes`` return a whole encoded reply.
    """

    @property
    def limits(self) -> ServingLimits:
        """The limits of the job that opened the endpoint."""
        ...

    @property
    def directory(self) -> str:
        """The private directory made on the host for the endpoint."""
        ...

    @property
    def client_path(self) -> str:
        """Where the client program is copied on the host."""
        ...

    @property
    def client_source(self) -> bytes:
        """The client program."""
        ...

    @property
    def header_size(self) -> int:
        """Bytes of a request's header."""
        ...

    @property
    def serving(self) -> bool:
        """True while the endpoint serves a job."""
        ...

    def body_size(self, header: bytes) -> tuple[int, dict[str, Any] | None]:
        """The size of the body announced by ``header``, and a refusal if too large."""
        ...

    def parse(self, body: bytes) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """A request's body read: (request, None) or (None, refusal)."""
        ...

    def refuse(self, reason: str) -> dict[str, Any]:
        """Count and log a refusal for ``reason``; its body."""
        ...

    def refusal(self, body: dict[str, Any]) -> bytes:
        """A refusal's body, as the closing reply to send."""
        ...

    def busy(self, connections: int) -> bytes:
        """Log that a connection was turned away; the closing reply to send it."""
        ...

    def broken(self, exc: Exception) -> bytes:
        """Count and log a request that could not be handled; the closing reply."""
        ...

    def find(self, request: dict[str, Any]) -> ServedJob | dict[str, Any]:
        """The job the request's secret names, or the error body to answer."""
        ...

    def ended_error(self, label: str) -> dict[str, Any]:
        """The error body for a call to the job ``label`` that has ended."""
        ...

    def reply(self, request: dict[str, Any], body: dict[str, Any]) -> tuple[bytes, bool]:
        """The encoded reply to ``request``, and whether the connection closes after it."""
        ...

    def add(self, job: ServedJob) -> None:
        """Serve ``job`` from now on."""
        ...

    def remove(self, job: ServedJob) -> bool:
        """Refuse ``job``'s calls from now on; False if it was not served."""
        ...


class Endpoint:
    """A listener on one connection, and the jobs it serves.

    Attributes:
        address: where the host's callers connect: ``unix:PATH`` or
            ``tcp:127.0.0.1:PORT``.
        client_path: the client program's path on the host.
        rules: what the bytes mean, and the jobs served.
    """

    def __init__(
        self, node: SshNode, conn: asyncssh.SSHClientConnection, rules: EndpointRules
    ) -> None:
        self.node = node
        self.conn = conn
        self.rules = rules
        self.directory = rules.directory
        self.client_path = rules.client_path
        self.address = ""
        self.listener: asyncssh.SSHListener | None = None
        self.handlers: set[asyncio.Task[Any]] = set()

    # -- listening ----------------------------------------------------------------
    async def open(self, transport: str) -> None:
        """Copy the client to the host, then listen (``transport``: auto, unix or tcp).

        Args:
            transport: ``"unix"``, ``"tcp"``, or ``"auto"`` (a Unix socket, else TCP
                with a warning).

        Raises:
            OSError: no transport allowed could be forwarded.
        """
        link = link_for(self.node)
        async with link.channels, self.conn.start_sftp_client() as sftp:
            await sftp.mkdir(self.directory, asyncssh.SFTPAttrs(permissions=0o700))
            await sftp.chmod(self.directory, 0o700)
            async with sftp.open(self.client_path, "wb") as file:
                await file.write(self.rules.client_source)
        errors: list[str] = []
        if transport in ("auto", "unix"):
            path = f"{self.directory}/s"
            try:
                self.listener = await self.conn.start_unix_server(
                    self._factory, path, encoding=None
                )
                self.address = f"unix:{path}"
            except (asyncssh.ChannelListenError, asyncssh.Error, OSError) as exc:
                errors.append(f"Unix socket forwarding refused: {exc}")
        if self.listener is None and transport in ("auto", "tcp"):
            try:
                self.listener = await self.conn.start_server(
                    self._factory, "127.0.0.1", 0, encoding=None
                )
                self.address = f"tcp:127.0.0.1:{self.listener.get_port()}"
            except (asyncssh.ChannelListenError, asyncssh.Error, OSError) as exc:
                errors.append(f"TCP port forwarding refused: {exc}")
            else:
                if transport == "auto":
                    # not silently: every local user of the host can connect to a TCP
                    # port (they still need a job's secret to call anything)
                    log.warning(
                        "services on %s: the SSH server refused a Unix socket (%s); "
                        "serving on %s, which every local user of that host can connect "
                        "to (calls still need a job's secret). Pass "
                        "services_transport='tcp' to accept this, or 'unix' to refuse it",
                        self.node.name,
                        errors[0] if errors else "refused",
                        self.address,
                    )
        if self.listener is None:
            await self._remove_directory()
            raise OSError("; ".join(errors) or f"unknown transport {transport!r}")

    def _factory(self, *_: object) -> Callable[[Any, Any], Awaitable[None]]:
        if len(self.handlers) >= self.rules.limits.max_connections:
            return self._busy
        return self._serve

    async def close(self) -> None:
        """Stop listening, end the connections, remove the directory (bounded)."""
        listener, self.listener = self.listener, None
        if listener is not None:
            listener.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(listener.wait_closed(), 2.0)
        for task in list(self.handlers):
            task.cancel()
        if self.handlers:
            await asyncio.wait(list(self.handlers), timeout=2.0)
        await self._remove_directory()

    async def _remove_directory(self) -> None:
        if self.conn.is_closed():
            return
        link = link_for(self.node)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5.0), link.channels, self.conn.start_sftp_client() as sftp:
                await sftp.rmtree(self.directory, ignore_errors=True)

    async def write_secret(self, job: ServedJob) -> None:
        """The job's secret, in a folder of its own (0700, random name), created
        with its final mode. Other users of the host cannot reach it; processes of the
        same remote account can (see docs/security.md: the isolation boundary).

        Args:
            job: the job; its ``secret_path`` is set to the file written.
        """
        folder = f"{self.directory}/{secrets.token_hex(16)}"
        job.secret_path = f"{folder}/secret"
        link = link_for(self.node)
        async with link.channels, self.conn.start_sftp_client() as sftp:
            await sftp.mkdir(folder, asyncssh.SFTPAttrs(permissions=0o700))
            await sftp.chmod(folder, 0o700)  # whatever the remote umask did
            async with sftp.open(
                job.secret_path, "x", asyncssh.SFTPAttrs(permissions=0o600)
            ) as file:
                await file.write(job.secret + "\n")
            await sftp.chmod(job.secret_path, 0o600)

    async def remove_secret(self, job: ServedJob) -> None:
        """Remove the job's secret and its folder from the host (bounded, quietly).

        Args:
            job: the job.
        """
        if self.conn.is_closed() or not job.secret_path:
            return
        link = link_for(self.node)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5.0), link.channels, self.conn.start_sftp_client() as sftp:
                await sftp.remove(job.secret_path)
                await sftp.rmdir(job.secret_path.rsplit("/", 1)[0])

    # -- one connection from the remote host ----------------------------------------
    async def _busy(self, reader: Any, writer: Any) -> None:
        data = self.rules.busy(len(self.handlers))
        with contextlib.suppress(Exception):
            writer.write(data)
            # the answer must reach the caller before the channel closes, or it sees
            # the connection gone instead of busy
            await asyncio.wait_for(writer.drain(), 2.0)
            writer.write_eof()
        with contextlib.suppress(Exception):
            writer.close()

    async def _serve(self, reader: asyncssh.SSHReader[bytes], writer: Any) -> None:
        """One connection: its requests, one after the other, until one is refused.

        Nothing raised here may escape: asyncssh would close the whole SSH connection,
        and every job on the node (and behind it, for a gateway) with it. What goes
        wrong with one request closes this channel only.
        """
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            await self._requests(reader, writer)
        except (asyncssh.Error, OSError, asyncio.IncompleteReadError):
            return
        except Exception as exc:  # noqa: BLE001 - one channel fails, not the connection
            data = self.rules.broken(exc)
            with contextlib.suppress(Exception):
                writer.write(data)
        finally:
            self.handlers.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _requests(self, reader: asyncssh.SSHReader[bytes], writer: Any) -> None:
        first = True  # the first request must come soon, with a valid secret
        while True:
            outcome = await self._read_request(reader, first=first)
            if outcome is None:  # the caller hung up between requests
                return
            request, refusal = outcome
            if refusal is not None:
                writer.write(self.rules.refusal(refusal))
                return
            assert request is not None
            first = False
            data, closing = self.rules.reply(request, await self._answer(request))
            writer.write(data)
            if closing:  # no valid secret: this connection serves nothing more
                return

    async def _read_request(
        self, reader: asyncssh.SSHReader[bytes], *, first: bool = False
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None] | None:
        """(request, None), (None, refusal), or None at a clean end of stream.

        The ``first`` request of a connection must arrive whole within the
        ``auth_timeout`` of the limits, counted from now.
        """
        limits = self.rules.limits
        deadline = asyncio.get_running_loop().time() + limits.auth_timeout
        try:
            async with asyncio.timeout(limits.auth_timeout if first else limits.idle_timeout):
                byte = await reader.read(1)
        except TimeoutError:
            if first:
                self.rules.refuse(f"no request within {limits.auth_timeout:g} s of connecting")
            return None
        if not byte:
            return None
        limit = limits.request_timeout
        late = f"request not received whole within {limit:g} s"
        if first and deadline - asyncio.get_running_loop().time() < limit:
            limit = max(0.0, deadline - asyncio.get_running_loop().time())
            late = f"first request not received whole within {limits.auth_timeout:g} s"
        try:
            async with asyncio.timeout(limit):
                header = byte + await reader.readexactly(self.rules.header_size - 1)
                size, too_large = self.rules.body_size(header)
                if too_large is not None:
                    return None, too_large
                body = await reader.readexactly(size)
        except TimeoutError:
            return None, self.rules.refuse(late)
        except asyncio.IncompleteReadError:
            self.rules.refuse("the connection closed in the middle of a request")
            return None
        return self.rules.parse(body)

    async def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        job = self.rules.find(request)
        if isinstance(job, dict):
            return job
        if job.portal is None:
            return await job.dispatch(request)
        try:
            future = job.portal.start_task_soon(job.dispatch, request)
        except RuntimeError:  # the job's portal has just closed: the job has ended
            return self.rules.ended_error(job.label)
        return await asyncio.wrap_future(future)


# one endpoint per link (= per node and loop)
_endpoints: weakref.WeakKeyDictionary[Link, Endpoint] = weakref.WeakKeyDictionary()
_locks: weakref.WeakKeyDictionary[Link, asyncio.Lock] = weakref.WeakKeyDictionary()


async def acquire_endpoint(
    node: SshNode, job: ServedJob, transport: str, new_rules: Callable[[], EndpointRules]
) -> Endpoint:
    """Serve ``job``'s calls on the node: its endpoint, opened if needed (with rules
    ``new_rules()``), knows the job's secret (on the node's loop: await it through
    :func:`jobgraph_ssh.lowlevel.call`).

    Args:
        node: the node whose connection forwards the socket.
        job: the job to serve; its secret is written on the host.
        transport: ``"unix"``, ``"tcp"`` or ``"auto"``, if the endpoint is opened.
        new_rules: makes the rules of a new endpoint (not called if one is open).

    Returns:
        The endpoint (its ``address`` and ``client_path`` are what callers need).

    Raises:
        OSError: the SSH server refused to forward a socket.
    """
    link = link_for(node)
    conn = await link.connection()
    lock = _locks.setdefault(link, asyncio.Lock())
    async with lock:
        endpoint = _endpoints.get(link)
        if endpoint is not None and (endpoint.conn is not conn or endpoint.listener is None):
            await endpoint.close()
            endpoint = None
        if endpoint is None:
            endpoint = Endpoint(node, conn, new_rules())
            await endpoint.open(transport)
            _endpoints[link] = endpoint
        await endpoint.write_secret(job)
        endpoint.rules.add(job)
        return endpoint


async def release_endpoint(node: SshNode, job: ServedJob) -> None:
    """The job has ended: refuse its calls; close the endpoint if no job is left (on the
    node's loop: await it through :func:`jobgraph_ssh.lowlevel.call`).

    Args:
        node: the node.
        job: the job given to :func:`acquire_endpoint`.
    """
    link = link_for(node)
    lock = _locks.setdefault(link, asyncio.Lock())
    async with lock:
        endpoint = _endpoints.get(link)
        if endpoint is None or not endpoint.rules.remove(job):
            return
        await endpoint.remove_secret(job)
        if not endpoint.rules.serving:
            del _endpoints[link]
            await endpoint.close()
