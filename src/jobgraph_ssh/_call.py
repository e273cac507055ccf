"""Call: run a Python function on a node, with nothing installed there but ``python3``.

The controller starts ``python3 -I`` on the node (over the job's connection, or as a
local subprocess on a :class:`LocalNode`) and sends it a small bootstrap
(:mod:`._call_remote`) on stdin; then messages go both ways on the process's stdin
and stdout: calls, the modules the far side asks for, the function's output, results.
See ``docs/design.md`` ("Remote Python functions").
"""

from __future__ import annotations

import contextlib
import copy
import importlib.machinery
import importlib.util
import json
import os
import shlex
import signal as signals
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.abc

import jobgraph as jg
from jobgraph.lowlevel import ResultOf, resolve_placeholders

from . import _call_remote
from ._asyncssh import _connection, _glue
from ._asyncssh._connection import OutputCollector
from ._commands import Command, CommandResult
from ._deferred import Capture
from ._errors import CommandFailedError, CommandTimeoutError, ConnectError, ConnectionLostError
from ._node import LocalNode, SshNode

if TYPE_CHECKING:
    from ._formatters import Formatter
    from ._node import Node

__all__ = ["Call", "CallResult", "RemoteError"]

MAIN_ALIAS = "__jobgraph_main__"  # the name the far side gives the controller's __main__
_BOOTSTRAP = Path(_call_remote.__file__).read_bytes()
# reads exactly N bytes of bootstrap from stdin (unbuffered), then runs them
_LOADER = (
    "import os,sys\n"
    "n=int(sys.argv[1]);b=b''\n"
    "while len(b)<n:\n"
    " c=os.read(0,n-len(b))\n"
    " if not c:sys.exit(3)\n"
    " b+=c\n"
    "exec(compile(b,'<jobgraph-call>','exec'))\n"
)


class RemoteError(CommandFailedError):
    """The function of a :class:`Call` raised an exception on the node.

    Attributes:
        remote_type: the exception's class, as named on the node (``"ValueError"``,
            ``"mylab.probes.ProbeError"``).
        remote_message: ``str()`` of the exception, on the node.
        remote_traceback: the traceback, as text, formatted on the node.
    """

    def __init__(
        self, host: str, command: str, remote_type: str, remote_message: str, remote_traceback: str
    ) -> None:
        super().__init__(host, command, exit_status=1, signal=None)
        self.remote_type = remote_type
        self.remote_message = remote_message
        self.remote_traceback = remote_traceback
        self.message = (
            f"{command!r} raised {remote_type}: {remote_message}\n"
            f"remote traceback:\n{remote_traceback.rstrip()}"
        )
        self.args = (self.message,)


@dataclass(frozen=True, slots=True)
class CallResult(CommandResult):
    """What a :class:`Call` did: a :class:`CommandResult` with the function's value.

    Attributes:
        value: the function's return value, decoded on the controller (None when
            the call failed).
        error: the :class:`RemoteError` when the function raised, else None.
    """

    value: Any = None
    error: RemoteError | None = None


def _check_function(func: Any) -> tuple[str, str]:
    """(module name as the node imports it, qualified name) of a callable a node can
    import by name; InvalidOptionError otherwise."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not callable(func) or not isinstance(module, str) or not isinstance(qualname, str):
        raise jg.InvalidOptionError(
            f"Call needs a function defined at the top level of a module, not {func!r}"
        )
    if "<lambda>" in qualname or "<locals>" in qualname:
        what = "a lambda" if "<lambda>" in qualname else "a nested function"
        raise jg.InvalidOptionError(
            f"Call cannot send {what} ({module}.{qualname}): the node imports the function "
            "by name, so define it at the top level of a module"
        )
    found: Any = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if found is not func and found != func:  # a classmethod: bound anew, yet equal
        raise jg.InvalidOptionError(
            f"Call cannot find {module}.{qualname} by name on this side, so the node "
            "could not either"
        )
    if module == "__main__":
        path = getattr(sys.modules["__main__"], "__file__", None)
        if not path or not str(path).endswith(".py") or not os.path.isfile(path):
            raise jg.InvalidOptionError(
                f"Call cannot send {qualname}: it comes from __main__, whose source is not "
                "available (an interactive session or python -c); put it in a module"
            )
        module = MAIN_ALIAS
    return module, qualname


def _shown(value: Any) -> str:
    """An argument as listings show it: a placeholder names its job."""
    if isinstance(value, ResultOf):
        return f"<result of {value.job.label}>"
    return repr(value)


class _Unset:
    """The default of :meth:`Call.options`: keep the current value."""


_UNSET = _Unset()


def _encode(value: Any, where: str) -> Any:
    try:
        return _call_remote.encode(value, where)
    except TypeError as exc:
        raise jg.InvalidOptionError(f"Call: {exc}") from None


class Call(Command):
    """Call a Python function on the node; its return value comes back as data.

    ``Call(disk_usage, "/var", top=5)`` runs ``disk_usage("/var", top=5)`` on the
    node. The node needs ``python3`` (3.8 or later) and nothing else: the function's
    module, and the pure-Python modules it imports that the node cannot import
    itself, are sent by this process when first imported there. The result is a
    :class:`CallResult` whose ``value`` is the function's return value. A function
    that raises fails the job with :class:`RemoteError` (the remote class name,
    message and traceback).

    Arguments and return values travel as data, not pickles: None, bool, int, float,
    str, bytes, lists, tuples, sets, frozensets, dicts, datetimes, dates, times,
    timedeltas and paths, nested at will. Anything else is refused where it is
    encoded: here, when the Call is made (:class:`jobgraph.InvalidOptionError`), or
    on the node for a return value (a :class:`RemoteError` with ``TypeError``).

    What the function prints (and what its child processes write) while it runs goes
    to the job's formatter, as command output does, and is kept in the result's
    ``stdout`` and ``stderr``. Each call has pipes of its own: what a child left running
    in the background writes after the function returned is dropped, never taken for
    the output of a later call.

    Keyword arguments are the function's own; the command's options (``timeout``,
    ``label``, ``python``, ``env``, ``capture``) are set with :meth:`options`:
    ``Call(f, 1, x=2).options(timeout=5, env={"LANG": "C"})``.

    An argument may be (or hold) a :class:`jobgraph.ResultOf` placeholder: the SshJob
    then requires that job, and the placeholder becomes its value, as it is (not as a
    string), just before the call.

    Args:
        func: a function (or other callable) defined at the top level of a module
            (from ``__main__`` too, when that is a script file).
        *args: its positional arguments.
        **kwargs: its keyword arguments.

    Raises:
        jobgraph.InvalidOptionError: ``func`` is a lambda, a nested function or
            cannot be found by name; an argument cannot be encoded (the message names
            its type).
    """

    _placeholder_fields = ("args", "kwargs")

    def __init__(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        self.func = func
        self.module, self.qualname = _check_function(func)
        self.args = args
        self.kwargs = kwargs
        self.python = "python3"
        super().__init__()
        self._encode_arguments()

    def _encode_arguments(self) -> None:
        """Encode the arguments now (placeholders stand for None until resolved)."""
        where = f"the arguments of {self.qualname}"

        def blank(_: ResultOf) -> None:
            return None

        self._wire_args = _encode(resolve_placeholders(list(self.args), resolve=blank), where)
        self._wire_kwargs = _encode(resolve_placeholders(dict(self.kwargs), resolve=blank), where)

    def resolved_for(self, job: jg.AbstractJob) -> Command:
        """The call with its :class:`jobgraph.ResultOf` placeholders replaced by the
        results they stand for (as they are, not as strings); itself if it holds none.

        Args:
            job: the job about to run the call.

        Returns:
            A copy of the call with the values in place of the placeholders, or the
            call itself.

        Raises:
            jobgraph.ResultUnavailableError: a placeholder's job has no result.
            jobgraph.InvalidOptionError: a result cannot be encoded (named by type).
        """
        if not self.placeholders():
            return self
        clone = copy.copy(self)
        clone.args = resolve_placeholders(self.args, job)
        clone.kwargs = resolve_placeholders(self.kwargs, job)
        clone._encode_arguments()
        return clone

    def options(
        self,
        *,
        timeout: float | _Unset | None = _UNSET,
        label: str | _Unset | None = _UNSET,
        python: str | _Unset = _UNSET,
        env: Mapping[str, str] | _Unset | None = _UNSET,
        capture: Capture | _Unset | None = _UNSET,
    ) -> Call:
        """The same call with other options.

        Args:
            timeout: seconds the call may take (the interpreter's start included);
                past it, the node's interpreter is killed and the job fails with
                :class:`~jobgraph_ssh.CommandTimeoutError`. None for no limit.
            label: how listings name the command (default ``call MODULE.FUNCTION(...)``).
            python: the interpreter to start on the node (default ``"python3"``), a
                program name or path. Calls naming different interpreters use
                different interpreter processes.
            env: environment variables (names and string values, as for ``Run``) set
                in the interpreter's ``os.environ`` while the function runs, so the
                processes it starts see them too; the interpreter's environment is
                put back as it was when the function returns (or raises). None for
                none.
            capture: a :class:`~jobgraph_ssh.Capture`: the function's return value
                (the decoded Python value, not its output) is stored in its
                variables when the function returns, for a later
                :class:`~jobgraph_ssh.Deferred` to use (``{{ name.key }}``). The
                variable is left unset when the function raises or the call fails;
                the Capture's ``limit`` (about stdout) does not apply. None for no
                capture.

        Returns:
            A new Call (this one is unchanged); options not given keep their value.

        Raises:
            jobgraph.InvalidOptionError: a timeout that is not a positive number, an
                empty ``python``, an ``env`` that is not a mapping of variable names
                to strings (the message names the bad name or value), a ``capture``
                that is not a Capture.
        """
        clone = copy.copy(self)
        Command.__init__(
            clone,
            timeout=self.timeout if isinstance(timeout, _Unset) else timeout,
            label=self._label if isinstance(label, _Unset) else label,
            env=self.env if isinstance(env, _Unset) else env,
            capture=self.capture if isinstance(capture, _Unset) else capture,
        )
        if not isinstance(python, _Unset):
            if not isinstance(python, str) or not python.strip():
                raise jg.InvalidOptionError(f"Call: python must be a program, not {python!r}")
            clone.python = python
        return clone

    def command_line(self) -> str:
        parts = [_shown(arg) for arg in self.args]
        parts += [f"{name}={_shown(value)}" for name, value in self.kwargs.items()]
        shown = ", ".join(parts)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        module = "__main__" if self.module == MAIN_ALIAS else self.module
        return f"call {module}.{self.qualname}({shown})"

    def request(self) -> dict[str, Any]:
        """The ``call`` message sent to the node.

        Returns:
            The message: the module and qualified name of the function, its
            arguments, already encoded, and the ``env`` variables if any.
        """
        message = {
            "t": "call",
            "m": self.module,
            "q": self.qualname,
            "a": self._wire_args,
            "k": self._wire_kwargs,
        }
        if self.env:
            message["e"] = dict(self.env)
        return message

    async def execute(self, node: Node, formatter: Formatter, keep: int | None) -> CommandResult:
        """Call the function on ``node``; the output goes to ``formatter``.

        Args:
            node: where to call it (an :class:`SshNode` or a :class:`LocalNode`).
            formatter: receives the function's output lines as they come.
            keep: how much output the result keeps (as for :meth:`Command.execute`).

        Returns:
            A :class:`CallResult`: ``allowed`` with the ``value`` when the function
            returned; not allowed, with the :class:`RemoteError` as ``error``, when it
            raised; not allowed, with the reason on stderr, when the interpreter
            could not start or died (exit status 127 for a missing ``python3``).

        Raises:
            CommandTimeoutError: the ``timeout`` passed; the interpreter was killed.
            ConnectError: the node cannot be reached.
            ConnectionLostError: the connection dropped during the call.

        Cancellation:
            The node's interpreter is killed (``TERM``, then ``KILL`` after the node's
            ``kill_grace`` if it is still there: on an SSH node in the background,
            through another channel; on a LocalNode the stop waits for it); the next
            Call on the node starts a new one.
        """
        collector = OutputCollector(node.label, formatter, keep)
        if isinstance(node, SshNode):
            return await _glue.call(_call_on_ssh, node, self, collector)
        if isinstance(node, LocalNode):
            return await _call_locally(node, self, collector)
        raise jg.InvalidOptionError(f"Call runs on SshNode and LocalNode, not on {node!r}")


# -- the controller's side of the wire -------------------------------------------------------


class _Pipe(Protocol):
    """The interpreter's process as the session sees it."""

    async def send(self, data: bytes) -> None: ...

    async def receive(self) -> bytes: ...  # b"" at end of file

    async def ending(self) -> tuple[int | None, str]: ...  # exit status, stderr

    async def kill(self, pgid: int | None) -> None: ...

    async def close(self) -> None: ...

    def lost(self) -> bool: ...  # whether the connection under it is gone


class _StartError(Exception):
    """The interpreter did not start (or died): exit status and what it said."""

    def __init__(self, status: int | None, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


@dataclass
class _Answer:
    mtime: int
    size: int
    reply: dict[str, Any]


_sources: dict[str, _Answer] = {}  # module answers by name, while their file is unchanged


def _stdlib(name: str) -> bool:
    return name.split(".", maxsplit=1)[0] in sys.stdlib_module_names


def _find_spec(name: str) -> importlib.machinery.ModuleSpec | None:
    """Where this process would import ``name`` from, without importing anything: a
    node asking for ``a.b`` must not make this process run ``a/__init__.py``."""
    parent, _, _ = name.rpartition(".")
    if not parent or parent in sys.modules:
        return importlib.util.find_spec(name)
    above = _find_spec(parent)
    if above is None or above.submodule_search_locations is None:
        return None
    return importlib.machinery.PathFinder.find_spec(name, list(above.submodule_search_locations))


def _module_reply(name: str) -> dict[str, Any]:  # noqa: PLR0911 - one case per kind
    """The answer to the node's ``need NAME``: the module's source, or not found, or an
    error naming why it cannot be sent."""
    reply: dict[str, Any] = {"t": "mod", "name": name, "src": None}
    if name == MAIN_ALIAS:
        path = getattr(sys.modules.get("__main__"), "__file__", None)
        if path:
            reply.update(src=Path(path).read_text(), file=str(path), pkg=False)
        return reply
    if _stdlib(name):
        return reply  # the node's own standard library, or nothing
    cached = _sources.get(name)
    if cached is not None:
        try:
            stat = os.stat(cached.reply.get("file") or "")
        except OSError:
            pass
        else:
            if (stat.st_mtime_ns, stat.st_size) == (cached.mtime, cached.size):
                return cached.reply
    try:
        spec = _find_spec(name)
    except Exception:  # noqa: BLE001 - a parent that fails to import: not found
        return reply
    if spec is None:
        return reply
    package = spec.submodule_search_locations is not None
    origin = spec.origin
    if spec.loader is None or origin in (None, "namespace"):
        if package:  # a namespace package
            return reply | {"src": "", "pkg": True, "file": f"<namespace {name}>"}
        return reply
    if origin in ("built-in", "frozen"):
        return reply
    if isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
        reply["error"] = (
            f"module {name} is a compiled extension module ({origin}): Call sends only "
            "pure-Python modules; install it on the host"
        )
        return reply
    try:
        source = spec.loader.get_source(name)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - reported to the node as an import error
        source = None
    if source is None:
        reply["error"] = (
            f"module {name} has no source on the controller ({origin}): Call cannot send it"
        )
        return reply
    reply.update(src=source, pkg=package, file=origin)
    with contextlib.suppress(OSError):
        stat = os.stat(origin)
        _sources[name] = _Answer(stat.st_mtime_ns, stat.st_size, reply)
    return reply


class _Session:
    """One interpreter on a node: started once, then called in turns."""

    def __init__(self, pipe: _Pipe, host: str, python: str) -> None:
        self.pipe = pipe
        self.host = host
        self.python = python
        self.buffer = bytearray()
        self.pgid: int | None = None
        self.sent: list[str] = []  # modules sent, in order (for tests and curiosity)
        self.broken = False

    async def _message(self) -> dict[str, Any]:
        while True:
            if len(self.buffer) >= 4:
                (size,) = struct.unpack(">I", self.buffer[:4])
                if size > _call_remote.MAX_FRAME:
                    raise _StartError(None, f"message of {size} bytes from the node: too large")
                if len(self.buffer) >= 4 + size:
                    body = bytes(self.buffer[4 : 4 + size])
                    del self.buffer[: 4 + size]
                    try:
                        message = json.loads(body)
                    except ValueError as exc:
                        raise _StartError(None, f"garbled message from the node: {exc}") from exc
                    if not isinstance(message, dict):
                        raise _StartError(None, f"garbled message from the node: {message!r}")
                    return message
            chunk = await self.pipe.receive()
            if not chunk:
                status, text = await self.pipe.ending()
                raise _StartError(status, text)
            self.buffer += chunk

    async def start(self) -> None:
        await self.pipe.send(_BOOTSTRAP)
        hello = await self._message()
        if hello.get("t") != "hello":
            raise _StartError(None, f"unexpected first message from the node: {hello!r}")
        pgid, pid = hello.get("pgid"), hello.get("pid")
        self.pgid = pgid if isinstance(pgid, int) and pgid == pid else None

    async def call(self, command: Call, collector: OutputCollector) -> dict[str, Any]:
        lines = _Lines(collector)
        await self.pipe.send(_call_remote.frame(command.request()))
        try:
            while True:
                message = await self._message()
                kind = message.get("t")
                if kind == "out":
                    lines.add(message.get("s") == 1, str(message.get("d", "")))
                elif kind == "need":
                    name = str(message.get("name"))
                    reply = _module_reply(name)
                    if reply.get("src") is not None:
                        self.sent.append(name)
                    await self.pipe.send(_call_remote.frame(reply))
                elif kind in ("ok", "err"):
                    return message
        finally:
            lines.flush()

    async def stop(self) -> None:
        """Kill the interpreter (TERM, then KILL after the grace), shielded and bounded."""
        self.broken = True
        grace = float(getattr(self.pipe, "grace", 0.0))
        with anyio.CancelScope(shield=True), anyio.move_on_after(grace + _glue.SETTLE_TIMEOUT):
            await self.pipe.kill(self.pgid)

    async def close(self) -> None:
        self.broken = True
        with anyio.CancelScope(shield=True), anyio.move_on_after(_glue.SETTLE_TIMEOUT):
            await self.pipe.close()


class _Lines:
    """The function's output, cut into lines for the collector."""

    def __init__(self, collector: OutputCollector) -> None:
        self.collector = collector
        self.pending = {True: "", False: ""}

    def add(self, stdout: bool, text: str) -> None:
        text = self.pending[stdout] + text
        *whole, self.pending[stdout] = text.split("\n")
        sink = self.collector.out if stdout else self.collector.err
        for line in whole:
            sink(line + "\n")

    def flush(self) -> None:
        for stdout, text in self.pending.items():
            if text:
                (self.collector.out if stdout else self.collector.err)(text)
        self.pending = {True: "", False: ""}


def _start_line(python: str) -> str:
    """The shell line that starts the interpreter and its loader."""
    size = str(len(_BOOTSTRAP))
    return f"exec {shlex.quote(python)} -I -c {shlex.quote(_LOADER)} {size}"


async def _run_call(
    session: _Session, command: Call, collector: OutputCollector, *, fresh: bool
) -> CommandResult:
    """Start (if fresh) and call, under the command's timeout; kill on trouble."""
    started = time.time()
    host = session.host
    try:
        with anyio.fail_after(command.timeout):
            if fresh:
                await session.start()
            reply = await session.call(command, collector)
    except TimeoutError as exc:
        await session.stop()
        raise CommandTimeoutError(host, command.label, command.timeout or 0.0) from exc
    except _StartError as exc:
        await session.stop()
        if session.pipe.lost():
            raise ConnectionLostError(
                host, f"connection lost while calling {command.label!r}"
            ) from exc
        problem = (
            f"the Python interpreter {session.python!r} on {host} "
            + ("did not start" if fresh and session.pgid is None else "ended during the call")
            + (f" (exit status {exc.status})" if exc.status is not None else "")
        )
        for line in exc.text.splitlines():
            collector.err(line + "\n")
        collector.err(problem + "\n")
        raw = collector.outcome(exc.status if exc.status else 1, None, started)
        return _result(host, command, raw, allowed=False)
    except BaseException:
        await session.stop()
        raise
    raw = collector.outcome(0 if reply["t"] == "ok" else 1, None, started)
    if reply["t"] == "ok":
        try:
            value = _call_remote.decode(reply.get("v"))
        except (ValueError, TypeError, LookupError) as exc:
            value, reply = None, {"type": "ValueError", "msg": f"cannot decode the value: {exc}"}
        else:
            if command.capture is not None:
                command.capture.variables[command.capture.varname] = value
            return _result(host, command, raw, allowed=True, value=value)
    error = RemoteError(
        host, command.label, str(reply.get("type")), str(reply.get("msg")), str(reply.get("tb"))
    )
    error.results = ()
    return _result(host, command, raw, allowed=False, error=error)


def _result(
    host: str,
    command: Call,
    raw: _connection.RawOutcome,
    *,
    allowed: bool,
    value: Any = None,
    error: RemoteError | None = None,
) -> CallResult:
    return CallResult(
        host=host,
        command=command.label,
        exit_status=raw.exit_status,
        signal=None,
        stdout=raw.stdout,
        stderr=raw.stderr,
        started_at=raw.started_at,
        ended_at=raw.ended_at,
        allowed=allowed,
        stderr_tail=raw.stderr_tail,
        stdout_truncated=raw.stdout_truncated,
        value=value,
        error=error,
    )


# -- SSH nodes: one interpreter per connection, calls in turns --------------------------------


class _SshPipe:
    """An interpreter on the node's connection (runs on asyncssh's loop)."""

    def __init__(self, process: Any, link: _connection.Link, conn: Any) -> None:
        self.process = process
        self.link = link
        self.conn = conn

    def lost(self) -> bool:
        return bool(self.conn.is_closed())

    async def send(self, data: bytes) -> None:
        try:
            self.process.stdin.write(data)
            await self.process.stdin.drain()
        except Exception as exc:  # asyncssh's or OSError: the channel is gone
            raise _StartError(None, f"{type(exc).__name__}: {exc}") from exc

    async def receive(self) -> bytes:
        try:
            data: bytes = await self.process.stdout.read(65536)
        except Exception as exc:  # asyncssh's or OSError: the channel is gone
            raise _StartError(None, f"{type(exc).__name__}: {exc}") from exc
        return data

    async def ending(self) -> tuple[int | None, str]:
        text = b""
        with anyio.move_on_after(_glue.SETTLE_TIMEOUT):
            text = await self.process.stderr.read(8192)
            await self.process.wait_closed()
        status = self.process.exit_status
        return (status if isinstance(status, int) and status >= 0 else None), text.decode(
            errors="replace"
        )

    async def kill(self, pgid: int | None) -> None:
        with contextlib.suppress(Exception):
            self.process.send_signal("TERM")
        with contextlib.suppress(Exception):
            self.process.close()
        if pgid is not None and pgid > 1:
            # SIGTERM, then SIGKILL after the node's kill_grace, through another channel,
            # in the background: the call being stopped still holds its channel slot
            self.link.kill_group(pgid)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.process.stdin.write_eof()
        with contextlib.suppress(Exception):
            self.process.close()


@dataclass
class _NodeState:
    lock: anyio.Lock
    sessions: dict[str, tuple[Any, _Session]]  # python -> (connection, session)


_STATE = "_jobgraph_call"  # the attribute of a Link that holds its _NodeState


def _state_of(link: _connection.Link) -> _NodeState:
    """The link's sessions, kept on the link itself: they go when it goes (the sessions
    refer to the connection, which refers to the node, which refers to the link)."""
    state: _NodeState = vars(link).setdefault(_STATE, _NodeState(anyio.Lock(), {}))
    return state


def session_of(node: SshNode, python: str = "python3") -> _Session | None:
    """The node's interpreter session on the running loop, if one is alive (tests)."""
    link = _connection.node_link(node)
    state: _NodeState | None = vars(link).get(_STATE) if link is not None else None
    if state is None or link is None:
        return None
    held = state.sessions.get(python)
    if held is None or held[0] is not link.conn or held[1].broken:
        return None
    return held[1]


async def _call_on_ssh(node: SshNode, command: Call, collector: OutputCollector) -> CommandResult:
    link = _connection.link_for(node)
    conn = await link.connection()
    state = _state_of(link)
    async with state.lock:
        held = state.sessions.get(command.python)
        fresh = held is None or held[0] is not conn or held[1].broken or conn.is_closed()
        if fresh:
            async with link.channels:
                process = await _open_process(node, conn, command.python)
            session = _Session(_SshPipe(process, link, conn), node.name, command.python)
            state.sessions[command.python] = (conn, session)
        else:
            assert held is not None
            session = held[1]
        async with link.channels:
            return await _run_call(session, command, collector, fresh=fresh)


async def _open_process(node: SshNode, conn: Any, python: str) -> Any:
    try:
        return await conn.create_process(_start_line(python), encoding=None)
    except Exception as exc:
        reason = getattr(exc, "reason", None) or str(exc)
        if conn.is_closed():
            raise ConnectionLostError(node.name, f"connection lost: {reason}") from exc
        raise ConnectError(node.name, f"cannot open a channel: {reason}") from exc


# -- the local node: one interpreter per call ------------------------------------------------


class _LocalPipe:
    def __init__(self, process: anyio.abc.Process, grace: float) -> None:
        self.process = process
        self.grace = grace

    def lost(self) -> bool:
        return False

    async def send(self, data: bytes) -> None:
        assert self.process.stdin is not None
        # if it died, the next receive says how
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            await self.process.stdin.send(data)

    async def receive(self) -> bytes:
        assert self.process.stdout is not None
        try:
            return await self.process.stdout.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return b""

    async def ending(self) -> tuple[int | None, str]:
        assert self.process.stderr is not None
        chunks: list[bytes] = []
        with anyio.move_on_after(_glue.SETTLE_TIMEOUT):
            with contextlib.suppress(anyio.EndOfStream, anyio.ClosedResourceError):
                while True:
                    chunks.append(await self.process.stderr.receive())
            await self.process.wait()
        status = self.process.returncode
        if status is not None and status < 0:
            status = 128 - status
        return status, b"".join(chunks).decode(errors="replace")

    async def kill(self, pgid: int | None) -> None:
        del pgid  # a session of its own: its group is its pid
        pid = self.process.pid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signals.SIGTERM)
        with anyio.move_on_after(self.grace):
            await self.process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signals.SIGKILL)
        await self.close()

    async def close(self) -> None:
        with anyio.move_on_after(_glue.SETTLE_TIMEOUT):
            await self.process.aclose()
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signals.SIGKILL)
            with anyio.move_on_after(_glue.SETTLE_TIMEOUT):
                await self.process.wait()


async def _call_locally(node: Node, command: Call, collector: OutputCollector) -> CommandResult:
    # shielded: cancelled while spawning, asyncio would leave the process (and a task
    # connecting its pipes) behind; a cancellation is seen at the next checkpoint
    with anyio.CancelScope(shield=True):
        process = await anyio.open_process(
            ["/bin/sh", "-c", _start_line(command.python)],
            stdin=subprocess.PIPE,
            start_new_session=True,
        )
    grace = float(getattr(node, "kill_grace", _connection.KILL_GRACE))
    session = _Session(_LocalPipe(process, grace), node.name, command.python)
    try:
        return await _run_call(session, command, collector, fresh=True)
    finally:
        await session.close()
