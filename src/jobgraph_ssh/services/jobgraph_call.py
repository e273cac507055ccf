"""Call the controller's services from a remote host (stdlib only, Python 3.8+).

An :class:`~jobgraph_ssh.SshJob` given ``services=pool`` copies this file to the
remote host and sets, for each of its commands:

- ``JOBGRAPH_SERVICES``: where the controller listens, through the job's SSH
  connection: ``unix:/path/to/socket`` or ``tcp:127.0.0.1:PORT``;
- ``JOBGRAPH_SERVICES_SECRET_FILE``: a file (mode 0600) holding the job's secret;
- ``JOBGRAPH_CALL``: the path of this file.

From Python::

    import os, sys
    sys.path.insert(0, os.path.dirname(os.environ["JOBGRAPH_CALL"]))
    import jobgraph_call
    data = jobgraph_call.call("FileService", "fetch", path="/etc/motd")

From a shell script (the result is printed as JSON; an error goes to stderr, as
JSON, with exit status 1)::

    python3 "$JOBGRAPH_CALL" call FileService fetch path=/etc/motd

Protocol (version 1): each message is a 4-byte big-endian length followed by that
many bytes of UTF-8 JSON (an object). A request is ``{"v": 1, "id": N, "secret": S,
"service": ..., "method": ..., "kwargs": {...}, "timeout": seconds or null}``; the
reply is ``{"v": 1, "id": N, "ok": true, "result": ...}`` or ``{"v": 1, "id": N,
"ok": false, "error": {"kind": ..., "type": ..., "message": ..., ...}}``.
"""

from __future__ import annotations

import builtins
import json
import os
import socket
import struct
import sys
import threading
from typing import Any, Dict, List, Optional, Tuple, Type

__all__ = [
    "ADDRESS_VARIABLE",
    "CLIENT_VARIABLE",
    "SECRET_VARIABLE",
    "AccessDeniedError",
    "BadResultError",
    "BusyError",
    "Client",
    "JobEndedError",
    "NotAuthenticatedError",
    "ProtocolError",
    "RemoteMethodError",
    "ServiceArgumentError",
    "ServiceCallError",
    "ServiceGoneError",
    "ServiceTimeoutError",
    "UnknownServiceError",
    "call",
    "main",
]

VERSION = 1
MAX_MESSAGE = 1 << 20  # bytes of JSON in one message, each way
HEADER = struct.Struct(">I")
ADDRESS_VARIABLE = "JOBGRAPH_SERVICES"
SECRET_VARIABLE = "JOBGRAPH_SERVICES_SECRET_FILE"  # noqa: S105 - a variable name
CLIENT_VARIABLE = "JOBGRAPH_CALL"

# the kinds of error a reply may carry
NOT_FOUND = "not_found"  # no such service, or the method is not exposed
REFUSED = "refused"  # the method's policy refuses this caller
BAD_ARGUMENTS = "bad_arguments"  # the arguments do not fit the method
METHOD_ERROR = "method_error"  # the method raised
GONE = "gone"  # the service pool is not running
TIMEOUT = "timeout"  # the call took longer than its timeout
ENDED = "ended"  # the job this caller belongs to has ended
UNAUTHENTICATED = "unauthenticated"  # no valid secret
PROTOCOL = "protocol"  # a malformed, oversized or too slow request; bad version
BAD_RESULT = "bad_result"  # the method returned something JSON cannot carry
BUSY = "busy"  # too many connections at once


class ServiceCallError(Exception):
    """Root of what a remote call raises: ``kind`` (see the module), ``message`` and
    ``details`` (the reply's error object).

    Args:
        message: what went wrong, as the controller (or the client) says it.
        details: the reply's error object (``kind``, ``message`` and what the kind
            adds), or None.
    """

    kind = "error"

    def __init__(self, message: str, details: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: Dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        return self.message


class UnknownServiceError(ServiceCallError, LookupError):
    """No such service, or the service does not expose the method."""

    kind = NOT_FOUND


class AccessDeniedError(ServiceCallError, PermissionError):
    """The method's policy refuses this caller; ``policy`` says whom it allows."""

    kind = REFUSED

    @property
    def policy(self) -> Optional[str]:
        """The refusing policy, described (None if the reply does not say)."""
        return self.details.get("policy")


class ServiceArgumentError(ServiceCallError, TypeError):
    """The arguments do not fit the method; ``argument`` names the one at fault."""

    kind = BAD_ARGUMENTS

    @property
    def argument(self) -> Optional[str]:
        """The argument at fault (None if the reply does not say)."""
        return self.details.get("argument")


class ServiceGoneError(ServiceCallError, ConnectionError):
    """The service pool is not running, or the controller cannot be reached."""

    kind = GONE


class ServiceTimeoutError(ServiceCallError, TimeoutError):
    """The call did not finish within its timeout."""

    kind = TIMEOUT


class JobEndedError(ServiceCallError, PermissionError):
    """The job this program belongs to has ended: its calls are refused."""

    kind = ENDED


class NotAuthenticatedError(ServiceCallError, PermissionError):
    """The secret is missing or wrong."""

    kind = UNAUTHENTICATED


class ProtocolError(ServiceCallError, ValueError):
    """The controller refused the request as malformed, oversized or too slow."""

    kind = PROTOCOL


class BadResultError(ServiceCallError, TypeError):
    """The method's result cannot be sent as JSON."""

    kind = BAD_RESULT


class BusyError(ServiceCallError, ConnectionError):
    """The controller has too many connections from this host at once."""

    kind = BUSY


class RemoteMethodError(ServiceCallError):
    """The method raised; ``type_name`` is its exception's class name. The exception
    raised is also an instance of the built-in class of that name, if there is one
    (``except ValueError`` works)."""

    kind = METHOD_ERROR

    @property
    def type_name(self) -> str:
        """The class name of the exception the method raised."""
        return str(self.details.get("type", "Exception"))


_BY_KIND: Dict[str, Type[ServiceCallError]] = {
    cls.kind: cls
    for cls in (
        UnknownServiceError,
        AccessDeniedError,
        ServiceArgumentError,
        ServiceGoneError,
        ServiceTimeoutError,
        JobEndedError,
        NotAuthenticatedError,
        ProtocolError,
        BadResultError,
        BusyError,
    )
}
_METHOD_CLASSES: Dict[str, Type[RemoteMethodError]] = {}
_lock = threading.Lock()


def _method_error_class(type_name: str) -> Type[RemoteMethodError]:
    """A subclass of RemoteMethodError named ``type_name``, also a subclass of the
    built-in exception of that name if it is one."""
    with _lock:
        cls = _METHOD_CLASSES.get(type_name)
        if cls is None:
            builtin = getattr(builtins, type_name, None)
            bases: Tuple[type, ...] = (RemoteMethodError,)
            if isinstance(builtin, type) and issubclass(builtin, Exception):
                bases = (RemoteMethodError, builtin)
            safe = type_name if type_name.isidentifier() else "RemoteError"
            try:
                cls = type(safe, bases, {"__module__": __name__})
                cls("probe", {})  # some built-ins need other arguments: then the plain class
            except TypeError:
                cls = type(safe, (RemoteMethodError,), {"__module__": __name__})
            _METHOD_CLASSES[type_name] = cls
        return cls


def error_from_reply(error: Dict[str, Any]) -> ServiceCallError:
    """The exception a reply's error object stands for."""
    kind = str(error.get("kind", ""))
    message = str(error.get("message", "remote call failed"))
    if kind == METHOD_ERROR:
        cls: Type[ServiceCallError] = _method_error_class(str(error.get("type", "Exception")))
    else:
        cls = _BY_KIND.get(kind, ServiceCallError)
    return cls(message, error)


def encode(message: Dict[str, Any], limit: int = MAX_MESSAGE) -> bytes:
    """A message framed for the wire (raises ValueError past ``limit`` bytes)."""
    body = json.dumps(message, separators=(",", ":"), allow_nan=False).encode("utf-8")
    if len(body) > limit:
        raise ValueError("message of %d bytes exceeds the limit of %d" % (len(body), limit))
    return HEADER.pack(len(body)) + body


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    chunks: List[bytes] = []
    while size:
        chunk = sock.recv(min(size, 1 << 16))
        if not chunk:
            raise ServiceGoneError("the controller closed the connection")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


class Client:
    """A connection to the controller's services (one call at a time; thread-safe).

    ``address`` and ``secret`` default to what the job's environment says.
    ``timeout`` is the default limit of each call, in seconds (None: none).

    The connection is opened by the first call and kept for the next ones (a use
    as a context manager closes it at the end). It works only while the job that
    started the program runs.

    Args:
        address: where the controller listens, ``unix:PATH`` or
            ``tcp:127.0.0.1:PORT``; None for ``$JOBGRAPH_SERVICES``.
        secret: the job's secret; None to read it from the file that
            ``$JOBGRAPH_SERVICES_SECRET_FILE`` names.
        timeout: the default limit of each call, in seconds; None for none (the
            job's ``services_timeout`` still applies).

    Raises:
        ServiceGoneError: no address is given nor set in the environment.
        NotAuthenticatedError: no secret is given nor its file set in the environment.
        OSError: the secret file cannot be read.
    """

    def __init__(
        self,
        address: Optional[str] = None,
        secret: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> None:
        if address is None:
            address = os.environ.get(ADDRESS_VARIABLE)
        if not address:
            raise ServiceGoneError(
                "%s is not set: run under an SshJob given services=" % ADDRESS_VARIABLE
            )
        if secret is None:
            path = os.environ.get(SECRET_VARIABLE)
            if not path:
                raise NotAuthenticatedError("%s is not set" % SECRET_VARIABLE)
            with open(path) as file:
                secret = file.read().strip()
        self.address = address
        self.secret = secret
        self.timeout = timeout
        self._sock: Optional[socket.socket] = None
        self._next_id = 0
        self._lock = threading.Lock()

    def _connect(self) -> socket.socket:
        scheme, _, rest = self.address.partition(":")
        try:
            if scheme == "unix":
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.connect(rest)
            elif scheme == "tcp":
                host, _, port = rest.rpartition(":")
                sock = socket.create_connection((host, int(port)))
            else:
                raise ServiceGoneError(
                    "unknown address %r in %s" % (self.address, ADDRESS_VARIABLE)
                )
        except OSError as exc:
            raise ServiceGoneError(
                "cannot reach the controller's services at %s: %s" % (self.address, exc)
            ) from exc
        return sock

    def close(self) -> None:
        """Close the connection (the next call opens another)."""
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def call(
        self, service: str, method: str, *, timeout: Optional[float] = None, **kwargs: Any
    ) -> Any:
        """Call ``method`` of ``service`` with ``kwargs``; return its result.

        Raises the :class:`ServiceCallError` subclass matching the reply.

        Args:
            service: the service's name in the controller's pool.
            method: the exposed method's name.
            timeout: the longest the call may take, in seconds; None for the
                client's default. The job's ``services_timeout``, if shorter, wins.
            **kwargs: the method's arguments, JSON values.

        Returns:
            The method's result, through JSON (tuples come back as lists...).

        Raises:
            UnknownServiceError: no such service, or the method is not exposed.
            AccessDeniedError: the method's policy refuses this job.
            ServiceArgumentError: the arguments do not fit the method.
            RemoteMethodError: the method raised (also an instance of the built-in
                exception of the same name, if any).
            ServiceTimeoutError: the timeout passed (the controller cancelled the
                call), or no reply came within it plus 10 s.
            JobEndedError: the job has ended; its calls are refused.
            ProtocolError: the arguments cannot be sent as JSON, or the request
                exceeds 1 MiB.
            BadResultError: the result cannot be sent back as JSON.
            BusyError: the controller has too many connections from this host.
            ServiceGoneError: the controller cannot be reached, its pool is not
                running, or the connection dropped (the next call reconnects).
        """
        return self.call_with(service, method, kwargs, timeout=timeout)

    def call_with(
        self,
        service: str,
        method: str,
        kwargs: Dict[str, Any],
        *,
        timeout: Optional[float] = None,
    ) -> Any:
        """Like :meth:`call`, the arguments given as a dict (names may be any str).

        Args:
            service: the service's name in the controller's pool.
            method: the exposed method's name.
            kwargs: the method's arguments, JSON values, by name.
            timeout: as for :meth:`call`.

        Returns:
            The method's result, through JSON.

        Raises:
            ServiceCallError: the subclass matching the failure, as for :meth:`call`.
        """
        limit = self.timeout if timeout is None else timeout
        with self._lock:
            self._next_id += 1
            request = {
                "v": VERSION,
                "id": self._next_id,
                "secret": self.secret,
                "service": service,
                "method": method,
                "kwargs": kwargs,
                "timeout": limit,
            }
            try:
                data = encode(request)
            except (TypeError, ValueError) as exc:
                raise ProtocolError("cannot send this call: %s" % exc) from exc
            if self._sock is None:
                self._sock = self._connect()
            sock = self._sock
            # the controller enforces the call's timeout; wait a little longer for its reply
            sock.settimeout(None if limit is None else limit + 10.0)
            try:
                send_error = None  # type: Optional[OSError]
                try:
                    sock.sendall(data)
                except OSError as exc:
                    # the controller may have answered (busy) and closed the connection
                    # before reading the request: its answer is still there to read
                    send_error = exc
                try:
                    header = _receive_exactly(sock, HEADER.size)
                except (OSError, ValueError):
                    if send_error is not None:
                        raise send_error from None
                    raise
                (size,) = HEADER.unpack(header)
                if size > MAX_MESSAGE:
                    raise ProtocolError("reply of %d bytes exceeds the limit" % size)
                reply = json.loads(_receive_exactly(sock, size).decode("utf-8"))
            except ServiceCallError:
                self._drop()
                raise
            except socket.timeout as exc:
                self._drop()
                raise ServiceTimeoutError("no reply from the controller in time") from exc
            except (OSError, ValueError) as exc:
                self._drop()
                raise ServiceGoneError("lost the controller's services: %s" % exc) from exc
            if not isinstance(reply, dict):
                self._drop()
                raise ProtocolError("the controller sent a reply that is not an object")
            if reply.get("closing"):
                self._drop()
        if reply.get("ok"):
            return reply.get("result")
        raise error_from_reply(reply.get("error") or {})

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


_default: Optional[Client] = None


def call(service: str, method: str, *, timeout: Optional[float] = None, **kwargs: Any) -> Any:
    """Call a service through the job's connection (one shared :class:`Client`).

    The client is made from the environment at the first call, and shared by the
    threads of the program.

    Args:
        service: the service's name in the controller's pool.
        method: the exposed method's name.
        timeout: the longest the call may take, in seconds; None for no limit but
            the job's ``services_timeout``.
        **kwargs: the method's arguments, JSON values.

    Returns:
        The method's result, through JSON.

    Raises:
        ServiceCallError: the subclass matching the failure, as for
            :meth:`Client.call`; also when the environment does not lead to the
            controller (not run by an SshJob given ``services=``).
        OSError: the secret file cannot be read.
    """
    global _default
    with _lock:
        if _default is None:
            _default = Client()
        client = _default
    return client.call_with(service, method, kwargs, timeout=timeout)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


USAGE = (
    "usage: python3 jobgraph_call.py call [--timeout SECONDS] SERVICE METHOD [NAME=VALUE ...]\n"
    '  a VALUE is read as JSON if it is (3, true, null, [1,2], "text"), else as a string;\n'
    "  prints the result as JSON; an error as JSON on stderr, with exit status 1\n"
)


def main(argv: Optional[List[str]] = None) -> int:
    """The command line: ``call [--timeout SECONDS] SERVICE METHOD NAME=VALUE...``.

    Each VALUE is read as JSON if it parses, else taken as a string. The result is
    printed on stdout as JSON; a failure is printed on stderr as
    ``{"error": {"kind": ..., "message": ...}}``.

    Args:
        argv: the arguments, without the program name; None for ``sys.argv[1:]``.

    Returns:
        The exit status, 0 when the call succeeded, 1 when it failed, 2 for a usage
        error (nothing called).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "call":
        sys.stderr.write(USAGE)
        return 2
    args.pop(0)
    timeout: Optional[float] = None
    if args[:1] == ["--timeout"] and len(args) > 1:
        try:
            timeout = float(args[1])
        except ValueError:
            sys.stderr.write(USAGE)
            return 2
        del args[:2]
    if len(args) < 2:
        sys.stderr.write(USAGE)
        return 2
    service, method = args[0], args[1]
    kwargs: Dict[str, Any] = {}
    for item in args[2:]:
        name, equal, value = item.partition("=")
        if not equal or not name:
            sys.stderr.write("not NAME=VALUE: %r\n" % item)
            sys.stderr.write(USAGE)
            return 2
        kwargs[name] = _parse_value(value)
    try:
        with Client(timeout=timeout) as client:
            result = client.call_with(service, method, kwargs)
    except ServiceCallError as exc:
        error = dict(exc.details)
        error.setdefault("kind", exc.kind)
        error.setdefault("message", exc.message)
        sys.stderr.write(json.dumps({"error": error}) + "\n")
        return 1
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
