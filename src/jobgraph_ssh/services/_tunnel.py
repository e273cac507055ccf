"""The asyncssh side of remote calls: one listener per node connection, forwarded
from the remote host back to the controller, shared by every job with services on
that node; framing, limits and timeouts of the wire protocol.

Everything here runs on the asyncio loop of the node's connection (see
:func:`jobgraph_ssh.lowlevel.call`). A call is handed to the anyio side (the job's
:class:`~jobgraph_ssh.services._remote.Session`) directly under asyncio, through the
session's blocking portal under trio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import secrets
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncssh

from jobgraph_ssh import lowlevel

from . import jobgraph_call as wire

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal

    from jobgraph_ssh.lowlevel import Limits, SshNode

__all__ = ["Endpoint", "SessionHandle", "acquire", "release"]

log = logging.getLogger("jobgraph_ssh.services")

CLIENT_SOURCE = Path(wire.__file__).read_bytes()
CLIENT_NAME = "jobgraph_call.py"
REMOTE_ROOT = "/tmp"  # noqa: S108 - a private 0700 directory with a random name is made there
ENDED_REMEMBERED = 1024  # secrets of ended jobs kept, to say "ended" rather than "unknown"


@dataclass(eq=False)
class SessionHandle:
    """What the endpoint knows of one job: its secret and how to reach its dispatcher
    (the secret is left out of the repr, so that logs and tracebacks do not show it)."""

    secret: str = field(repr=False)
    label: str
    dispatch: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
    portal: BlockingPortal | None  # None: the dispatcher runs on this loop
    secret_path: str = ""
    calls: set[asyncio.Future[Any]] = field(default_factory=set)


class Endpoint:
    """A listener on one connection, and the jobs it serves."""

    def __init__(self, node: SshNode, conn: asyncssh.SSHClientConnection, limits: Limits) -> None:
        self.node = node
        self.conn = conn
        self.limits = limits
        self.directory = f"{REMOTE_ROOT}/jobgraph-svc-{secrets.token_hex(8)}"
        self.client_path = f"{self.directory}/{CLIENT_NAME}"
        self.address = ""
        self.listener: asyncssh.SSHListener | None = None
        self.sessions: dict[str, SessionHandle] = {}
        self.ended: dict[str, str] = {}
        self.handlers: set[asyncio.Task[Any]] = set()
        self.refused = 0  # requests refused for protocol reasons (for tests and stats)

    # -- listening ----------------------------------------------------------------
    async def open(self, transport: str) -> None:
        link = lowlevel.link_for(self.node)
        async with link.channels, self.conn.start_sftp_client() as sftp:
            await sftp.mkdir(self.directory, asyncssh.SFTPAttrs(permissions=0o700))
            await sftp.chmod(self.directory, 0o700)
            async with sftp.open(self.client_path, "wb") as file:
                await file.write(CLIENT_SOURCE)
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
        if len(self.handlers) >= self.limits.max_connections:
            return self._busy
        return self._serve

    async def close(self) -> None:
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
        link = lowlevel.link_for(self.node)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5.0), link.channels, self.conn.start_sftp_client() as sftp:
                await sftp.rmtree(self.directory, ignore_errors=True)

    async def write_secret(self, handle: SessionHandle) -> None:
        """The job's secret, in a folder of its own (0700, random name), created
        with its final mode. Other users of the host cannot reach it; processes of the
        same remote account can (see docs/security.md: the isolation boundary)."""
        folder = f"{self.directory}/{secrets.token_hex(16)}"
        handle.secret_path = f"{folder}/secret"
        link = lowlevel.link_for(self.node)
        async with link.channels, self.conn.start_sftp_client() as sftp:
            await sftp.mkdir(folder, asyncssh.SFTPAttrs(permissions=0o700))
            await sftp.chmod(folder, 0o700)  # whatever the remote umask did
            async with sftp.open(
                handle.secret_path, "x", asyncssh.SFTPAttrs(permissions=0o600)
            ) as file:
                await file.write(handle.secret + "\n")
            await sftp.chmod(handle.secret_path, 0o600)

    async def remove_secret(self, handle: SessionHandle) -> None:
        if self.conn.is_closed() or not handle.secret_path:
            return
        link = lowlevel.link_for(self.node)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5.0), link.channels, self.conn.start_sftp_client() as sftp:
                await sftp.remove(handle.secret_path)
                await sftp.rmdir(handle.secret_path.rsplit("/", 1)[0])

    # -- one connection from the remote host ----------------------------------------
    def _refuse(self, reason: str) -> dict[str, Any]:
        self.refused += 1
        log.warning("services on %s: refused a request: %s", self.node.name, reason)
        return _error(wire.PROTOCOL, reason)

    async def _busy(self, reader: Any, writer: Any) -> None:
        log.warning(
            "services on %s: refused a connection: %d already open",
            self.node.name,
            len(self.handlers),
        )
        with contextlib.suppress(Exception):
            writer.write(
                wire.encode(
                    _reply(None, _error(wire.BUSY, "too many connections at once"), closing=True)
                )
            )
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
            self.refused += 1
            log.warning(
                "services on %s: closed a connection after an unexpected error: %s: %s",
                self.node.name,
                type(exc).__name__,
                exc,
            )
            with contextlib.suppress(Exception):
                writer.write(
                    wire.encode(
                        _reply(
                            None,
                            _error(wire.PROTOCOL, "the request could not be handled"),
                            closing=True,
                        )
                    )
                )
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
                writer.write(wire.encode(_reply(None, refusal, closing=True)))
                return
            assert request is not None
            first = False
            reply = await self._answer(request)
            closing = not reply["ok"] and reply["error"]["kind"] in (
                wire.UNAUTHENTICATED,
                wire.ENDED,
            )
            if closing:  # no valid secret: this connection serves nothing more
                reply["closing"] = True
            try:
                data = wire.encode(reply, self.limits.max_message)
            except Exception as exc:  # noqa: BLE001 - TypeError, ValueError, RecursionError
                data = wire.encode(
                    _reply(
                        request.get("id"),
                        _error(wire.BAD_RESULT, f"the result cannot be sent as JSON: {exc}"),
                    )
                )
            writer.write(data)
            if closing:
                return

    async def _read_request(  # noqa: PLR0911
        self, reader: asyncssh.SSHReader[bytes], *, first: bool = False
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None] | None:
        """(request, None), (None, refusal), or None at a clean end of stream.

        The ``first`` request of a connection must arrive whole within the
        ``auth_timeout`` of the limits, counted from now.
        """
        deadline = asyncio.get_running_loop().time() + self.limits.auth_timeout
        try:
            async with asyncio.timeout(
                self.limits.auth_timeout if first else self.limits.idle_timeout
            ):
                byte = await reader.read(1)
        except TimeoutError:
            if first:
                self._refuse(f"no request within {self.limits.auth_timeout:g} s of connecting")
            return None
        if not byte:
            return None
        limit = self.limits.request_timeout
        late = f"request not received whole within {limit:g} s"
        if first and deadline - asyncio.get_running_loop().time() < limit:
            limit = max(0.0, deadline - asyncio.get_running_loop().time())
            late = f"first request not received whole within {self.limits.auth_timeout:g} s"
        try:
            async with asyncio.timeout(limit):
                header = byte + await reader.readexactly(wire.HEADER.size - 1)
                (size,) = wire.HEADER.unpack(header)
                if size > self.limits.max_message:
                    return None, self._refuse(
                        f"request of {size} bytes exceeds the limit of "
                        f"{self.limits.max_message} bytes"
                    )
                body = await reader.readexactly(size)
        except TimeoutError:
            return None, self._refuse(late)
        except asyncio.IncompleteReadError:
            self._refuse("the connection closed in the middle of a request")
            return None
        try:
            request = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return None, self._refuse(f"the request is not JSON: {exc}")
        except RecursionError:
            return None, self._refuse("the request's JSON is nested too deeply")
        if not isinstance(request, dict):
            return None, self._refuse("the request is not a JSON object")
        if request.get("v") != wire.VERSION:
            return None, self._refuse(
                f"protocol version {request.get('v')!r} is not supported (this side speaks "
                f"{wire.VERSION})"
            )
        for key, kind in (("service", str), ("method", str), ("secret", str), ("kwargs", dict)):
            if not isinstance(request.get(key), kind):
                return None, self._refuse(f"the request's {key!r} must be a {kind.__name__}")
        timeout = request.get("timeout")
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            return None, self._refuse(
                "the request's 'timeout' must be a positive finite number or null"
            )
        return request, None

    async def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        handle = self.sessions.get(request["secret"])
        if handle is None:
            label = self.ended.get(request["secret"])
            if label is not None:
                error = _error(wire.ENDED, f"job {label!r} has ended: its calls are refused")
            else:
                log.warning("services on %s: a call with no valid secret", self.node.name)
                error = _error(wire.UNAUTHENTICATED, "no job on this host has this secret")
            return _reply(request.get("id"), error)
        if handle.portal is None:
            reply = await handle.dispatch(request)
        else:
            try:
                future = handle.portal.start_task_soon(handle.dispatch, request)
            except RuntimeError:  # the job's portal has just closed: the job has ended
                return _reply(
                    request.get("id"),
                    _error(wire.ENDED, f"job {handle.label!r} has ended: its calls are refused"),
                )
            reply = await asyncio.wrap_future(future)
        return _reply(request.get("id"), reply)


def _error(kind: str, message: str, **details: Any) -> dict[str, Any]:
    return {"ok": False, "error": {"kind": kind, "message": message, **details}}


def _reply(request_id: Any, body: dict[str, Any], *, closing: bool = False) -> dict[str, Any]:
    reply = {"v": wire.VERSION, "id": request_id, **body}
    if closing:
        reply["closing"] = True
    return reply


# one endpoint per link (= per node and loop)
_endpoints: weakref.WeakKeyDictionary[lowlevel.Link, Endpoint] = weakref.WeakKeyDictionary()
_locks: weakref.WeakKeyDictionary[lowlevel.Link, asyncio.Lock] = weakref.WeakKeyDictionary()


async def acquire(node: SshNode, handle: SessionHandle, transport: str, limits: Limits) -> Endpoint:
    """Serve ``handle``'s job on the node: the endpoint, opened if needed, knows its secret."""
    link = lowlevel.link_for(node)
    conn = await link.connection()
    lock = _locks.setdefault(link, asyncio.Lock())
    async with lock:
        endpoint = _endpoints.get(link)
        if endpoint is not None and (endpoint.conn is not conn or endpoint.listener is None):
            await endpoint.close()
            endpoint = None
        if endpoint is None:
            endpoint = Endpoint(node, conn, limits)
            await endpoint.open(transport)
            _endpoints[link] = endpoint
        await endpoint.write_secret(handle)
        endpoint.sessions[handle.secret] = handle
        return endpoint


async def release(node: SshNode, handle: SessionHandle) -> None:
    """The job has ended: refuse its calls; close the endpoint if no job is left."""
    link = lowlevel.link_for(node)
    lock = _locks.setdefault(link, asyncio.Lock())
    async with lock:
        endpoint = _endpoints.get(link)
        if endpoint is None or endpoint.sessions.get(handle.secret) is not handle:
            return
        del endpoint.sessions[handle.secret]
        endpoint.ended[handle.secret] = handle.label
        while len(endpoint.ended) > ENDED_REMEMBERED:
            del endpoint.ended[next(iter(endpoint.ended))]
        await endpoint.remove_secret(handle)
        if not endpoint.sessions:
            del _endpoints[link]
            await endpoint.close()


def endpoint_of(node: SshNode) -> Endpoint | None:
    """The node's endpoint on the running loop, if open (for tests)."""
    return _endpoints.get(lowlevel.link_for(node))
