"""The protocol side of remote calls, in plain Python: the limits, what the endpoint
knows of each job, and :class:`Rules`, what a request's bytes mean (framing, checks,
refusals, replies). No I/O here: the listener forwarded from the remote host, each
connection's reads and their timeouts are :func:`jobgraph_ssh.lowlevel.acquire_endpoint`'s
(in ``jobgraph_ssh/_asyncssh/_tunnel.py``, on the node's asyncio loop), which asks a
:class:`Rules` what to answer. A call is handed to the anyio side (the job's
:class:`~jobgraph_ssh.services._remote.Session`) directly under asyncio, through the
session's blocking portal under trio.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import jobgraph_call as wire

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal

    from jobgraph_ssh.lowlevel import Limits

__all__ = ["Rules", "SessionHandle"]

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


class Rules:
    """What one node's endpoint answers, and the jobs it serves (an
    :class:`~jobgraph_ssh.lowlevel.EndpointRules`): the wire protocol of
    :mod:`jobgraph_ssh.services.jobgraph_call`, seen from the controller."""

    def __init__(self, node_name: str, limits: Limits) -> None:
        self.node_name = node_name
        self.limits = limits
        self.directory = f"{REMOTE_ROOT}/jobgraph-svc-{secrets.token_hex(8)}"
        self.client_path = f"{self.directory}/{CLIENT_NAME}"
        self.client_source = CLIENT_SOURCE
        self.header_size = wire.HEADER.size
        self.sessions: dict[str, SessionHandle] = {}
        self.ended: dict[str, str] = {}
        self.refused = 0  # requests refused for protocol reasons (for tests and stats)

    @property
    def serving(self) -> bool:
        """True while a job is served."""
        return bool(self.sessions)

    def add(self, job: SessionHandle) -> None:
        """Serve ``job`` from now on."""
        self.sessions[job.secret] = job

    def remove(self, job: SessionHandle) -> bool:
        """Refuse ``job``'s calls as ended from now on; False if it was not served."""
        if self.sessions.get(job.secret) is not job:
            return False
        del self.sessions[job.secret]
        self.ended[job.secret] = job.label
        while len(self.ended) > ENDED_REMEMBERED:
            del self.ended[next(iter(self.ended))]
        return True

    # -- refusals ---------------------------------------------------------------------
    def refuse(self, reason: str) -> dict[str, Any]:
        """Count and log a refusal; its body."""
        self.refused += 1
        log.warning("services on %s: refused a request: %s", self.node_name, reason)
        return _error(wire.PROTOCOL, reason)

    def refusal(self, body: dict[str, Any]) -> bytes:
        """A refusal's body as the closing reply."""
        return wire.encode(_reply(None, body, closing=True))

    def busy(self, connections: int) -> bytes:
        """Log a connection turned away; the closing reply it gets."""
        log.warning(
            "services on %s: refused a connection: %d already open",
            self.node_name,
            connections,
        )
        return wire.encode(
            _reply(None, _error(wire.BUSY, "too many connections at once"), closing=True)
        )

    def broken(self, exc: Exception) -> bytes:
        """Count and log a connection closed by an unexpected error; its closing reply."""
        self.refused += 1
        log.warning(
            "services on %s: closed a connection after an unexpected error: %s: %s",
            self.node_name,
            type(exc).__name__,
            exc,
        )
        return wire.encode(
            _reply(
                None,
                _error(wire.PROTOCOL, "the request could not be handled"),
                closing=True,
            )
        )

    # -- requests -----------------------------------------------------------------------
    def body_size(self, header: bytes) -> tuple[int, dict[str, Any] | None]:
        """The size the header announces, and a refusal if it is over the limit."""
        (size,) = wire.HEADER.unpack(header)
        if size > self.limits.max_message:
            return size, self.refuse(
                f"request of {size} bytes exceeds the limit of {self.limits.max_message} bytes"
            )
        return size, None

    def parse(self, body: bytes) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:  # noqa: PLR0911
        """(request, None), or (None, refusal) for a body that is not a valid request."""
        try:
            request = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return None, self.refuse(f"the request is not JSON: {exc}")
        except RecursionError:
            return None, self.refuse("the request's JSON is nested too deeply")
        if not isinstance(request, dict):
            return None, self.refuse("the request is not a JSON object")
        if request.get("v") != wire.VERSION:
            return None, self.refuse(
                f"protocol version {request.get('v')!r} is not supported (this side speaks "
                f"{wire.VERSION})"
            )
        for key, kind in (("service", str), ("method", str), ("secret", str), ("kwargs", dict)):
            if not isinstance(request.get(key), kind):
                return None, self.refuse(f"the request's {key!r} must be a {kind.__name__}")
        timeout = request.get("timeout")
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            return None, self.refuse(
                "the request's 'timeout' must be a positive finite number or null"
            )
        return request, None

    def find(self, request: dict[str, Any]) -> SessionHandle | dict[str, Any]:
        """The job whose secret the request carries, or the error body to answer."""
        handle = self.sessions.get(request["secret"])
        if handle is not None:
            return handle
        label = self.ended.get(request["secret"])
        if label is not None:
            return self.ended_error(label)
        log.warning("services on %s: a call with no valid secret", self.node_name)
        return _error(wire.UNAUTHENTICATED, "no job on this host has this secret")

    def ended_error(self, label: str) -> dict[str, Any]:
        """The error body of a call to a job that has ended."""
        return _error(wire.ENDED, f"job {label!r} has ended: its calls are refused")

    def reply(self, request: dict[str, Any], body: dict[str, Any]) -> tuple[bytes, bool]:
        """The encoded reply, and whether the connection closes after it (no valid
        secret: the connection serves nothing more)."""
        reply = _reply(request.get("id"), body)
        closing = not reply["ok"] and reply["error"]["kind"] in (
            wire.UNAUTHENTICATED,
            wire.ENDED,
        )
        if closing:
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
        return data, closing


def _error(kind: str, message: str, **details: Any) -> dict[str, Any]:
    return {"ok": False, "error": {"kind": kind, "message": message, **details}}


def _reply(request_id: Any, body: dict[str, Any], *, closing: bool = False) -> dict[str, Any]:
    reply = {"v": wire.VERSION, "id": request_id, **body}
    if closing:
        reply["closing"] = True
    return reply
