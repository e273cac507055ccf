"""The far side of :class:`~jobgraph_ssh.Call`: stdlib only, Python 3.8 syntax.

The controller sends this file's text to ``python3 -I -c LOADER`` over the job's
connection; the loader reads it from stdin and runs it. The controller imports the
same file for :func:`encode` and :func:`decode`, so both sides agree on the data.

Wire: each message is a 4-byte big-endian length, then that many bytes of JSON (an
object, ASCII). The remote side says ``hello`` (its pid and process group); then for
each ``call`` it may ask for modules (``need`` -> ``mod``), sends the function's
output (``out``, from pipes of that call's own on fds 1 and 2), and ends with ``ok``
(the value) or ``err`` (the exception). A call's ``e`` (environment variables) is set
in ``os.environ`` for the call only.

Values: JSON's own (None, bool, int, float, str, lists, dicts with str keys), plus
tagged objects ``{"$t": TAG, "v": ...}`` for bytes, tuples, sets, frozensets, dicts
with other keys, datetimes, dates, times, timedeltas and paths. Anything else is a
TypeError naming its type, raised where it could not be encoded. Nothing is eval'd
or unpickled: decoding builds only these types.
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import datetime as dt
import importlib
import importlib.util
import json
import os
import pathlib
import select
import struct
import sys
import threading
import traceback
from typing import Any, cast

__all__ = ["MAX_FRAME", "decode", "encode", "main"]

MAX_FRAME = 1 << 30  # bytes in one message
TAG = "$t"


def _type_name(value: Any) -> str:
    kind = type(value)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return kind.__module__ + "." + kind.__qualname__


def encode(value: Any, where: str = "value") -> Any:  # noqa: PLR0911 - one case per type
    """``value`` as JSON-ready data (see the module docstring).

    Raises:
        TypeError: a value (``value`` or one inside it) has no encoding; the message
            names its type and ``where`` it was found.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [encode(item, where) for item in value]
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value) and TAG not in value:
            return {key: encode(item, where) for key, item in value.items()}
        return {
            TAG: "dict",
            "v": [[encode(key, where), encode(item, where)] for key, item in value.items()],
        }
    if isinstance(value, tuple):
        return {TAG: "tuple", "v": [encode(item, where) for item in value]}
    if isinstance(value, (set, frozenset)):
        tag = "set" if isinstance(value, set) else "frozenset"
        return {TAG: tag, "v": [encode(item, where) for item in value]}
    if isinstance(value, (bytes, bytearray)):
        return {TAG: "bytes", "v": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dt.datetime):
        return {TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, dt.date):
        return {TAG: "date", "v": value.isoformat()}
    if isinstance(value, dt.time):
        return {TAG: "time", "v": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {TAG: "timedelta", "v": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, pathlib.PurePath):
        return {TAG: "path", "v": str(value)}
    raise TypeError(
        "cannot send a value of type " + _type_name(value) + " (in " + where + "): Call "
        "carries None, bool, int, float, str, bytes, lists, tuples, sets, dicts, "
        "datetimes, dates, times, timedeltas and paths"
    )


def decode(data: Any) -> Any:  # noqa: PLR0911 - one case per tag
    """The value that :func:`encode` turned into ``data``.

    Raises:
        ValueError: an unknown tag (data from something else).
    """
    if isinstance(data, list):
        return [decode(item) for item in data]
    if not isinstance(data, dict):
        return data
    tag = data.get(TAG)
    if tag is None:
        return {key: decode(item) for key, item in data.items()}
    raw: Any = data.get("v")
    if tag == "tuple":
        return tuple(decode(item) for item in raw)
    if tag == "set":
        return {decode(item) for item in raw}
    if tag == "frozenset":
        return frozenset(decode(item) for item in raw)
    if tag == "dict":
        return {decode(key): decode(item) for key, item in raw}
    if tag == "bytes":
        return base64.b64decode(raw)
    if tag == "datetime":
        return dt.datetime.fromisoformat(raw)
    if tag == "date":
        return dt.date.fromisoformat(raw)
    if tag == "time":
        return dt.time.fromisoformat(raw)
    if tag == "timedelta":
        return dt.timedelta(days=raw[0], seconds=raw[1], microseconds=raw[2])
    if tag == "path":
        return pathlib.Path(raw)
    raise ValueError("unknown tag in data: " + repr(tag))


def frame(message: dict[str, Any]) -> bytes:
    """One message as sent: length, then JSON."""
    body = json.dumps(message, separators=(",", ":")).encode("ascii")
    return struct.pack(">I", len(body)) + body


class Channel:
    """Messages over two file descriptors (the remote side's private stdin/stdout)."""

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd = rfd
        self.wfd = wfd
        self.write_lock = threading.RLock()  # whole messages, from any thread
        self.request_lock = threading.RLock()  # one question at a time

    def send(self, message: dict[str, Any]) -> None:
        data = memoryview(frame(message))
        with self.write_lock:
            while data:
                done = os.write(self.wfd, data)
                data = data[done:]

    def _exactly(self, size: int) -> bytes:
        chunks: list[bytes] = []
        while size:
            chunk = os.read(self.rfd, min(size, 1 << 20))
            if not chunk:
                raise EOFError("the controller went away")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def receive(self) -> dict[str, Any]:
        (size,) = struct.unpack(">I", self._exactly(4))
        if size > MAX_FRAME:
            raise EOFError("message too large")
        message: dict[str, Any] = json.loads(self._exactly(size).decode("utf-8"))
        return message

    def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        with self.request_lock:
            self.send(message)
            return self.receive()


class Forwarder:
    """Sends what a call writes on fds 1 and 2 to the controller, as ``out``.

    Each call gets pipes of its own on fds 1 and 2 (:meth:`open`); when it returns
    (:meth:`close`), what it wrote is forwarded, fds 1 and 2 go to ``/dev/null`` until
    the next call, and what still comes through its pipes (from a child left running
    in the background) is read and dropped: it is never taken for a later call's
    output, and the child never gets ``SIGPIPE``.
    """

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.readers: dict[int, list[Any]] = {}  # read end -> [stream, decoder, live]
        self.null = os.open(os.devnull, os.O_WRONLY)
        self.wake_read, self.wake_write = os.pipe()  # a new call's pipes to watch
        for stream in (1, 2):
            os.dup2(self.null, stream)

    def _read(self, fd: int, reader: list[Any]) -> bool:
        """Forward (or drop) what is there now; False at end of file (a caller holds
        the channel's write lock)."""
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return True
            if not data:
                return False
            if reader[2]:
                text = reader[1].decode(data)
                if text:
                    self.channel.send({"t": "out", "s": reader[0], "d": text})

    def open(self) -> None:
        """New pipes on fds 1 and 2, for the call about to run."""
        with self.channel.write_lock:
            for stream in (1, 2):
                read_end, write_end = os.pipe()
                os.set_blocking(read_end, False)
                os.dup2(write_end, stream)
                os.close(write_end)
                decoder = codecs.getincrementaldecoder("utf-8")("replace")
                self.readers[read_end] = [stream, decoder, True]
        os.write(self.wake_write, b"+")

    def close(self) -> None:
        """The call returned: forward all it wrote; what comes later is dropped."""
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        for stream in (1, 2):
            os.dup2(self.null, stream)
        with self.channel.write_lock:
            for fd, reader in self.readers.items():
                if reader[2]:
                    self._read(fd, reader)
                    text = reader[1].decode(b"", final=True)
                    if text:
                        self.channel.send({"t": "out", "s": reader[0], "d": text})
                    reader[2] = False

    def run(self) -> None:
        """Forward as output comes (a thread), until the process ends."""
        while True:
            with self.channel.write_lock:
                fds = [*self.readers, self.wake_read]
            ready, _, _ = select.select(fds, [], [])
            for fd in ready:
                if fd == self.wake_read:
                    os.read(fd, 4096)
                    continue
                with self.channel.write_lock:
                    if not self._read(fd, self.readers[fd]):
                        del self.readers[fd]  # every writer is gone
                        os.close(fd)


class Loader:
    """Runs a module's source received from the controller."""

    def __init__(self, name: str, source: str, filename: str) -> None:
        self.name = name
        self.source = source
        self.filename = filename

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: Any) -> None:
        code = compile(self.source, self.filename, "exec", dont_inherit=True)
        exec(code, module.__dict__)  # noqa: S102 - code the controller sent, not data

    def get_source(self, name: str) -> str:
        return self.source


class Finder:
    """Last on ``sys.meta_path``: asks the controller for modules the host lacks."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.missing: set[str] = set()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name in self.missing:
            return None
        reply = self.channel.ask({"t": "need", "name": name})
        if reply.get("error"):
            raise ImportError(reply["error"], name=name)
        source = reply.get("src")
        if source is None:
            self.missing.add(name)
            return None
        filename = reply.get("file") or "<controller>/" + name
        loader = Loader(name, source, filename)
        spec = importlib.util.spec_from_loader(
            name, cast(Any, loader), origin=filename, is_package=bool(reply.get("pkg"))
        )
        if spec is not None:
            spec.has_location = True
        return spec


def _error(exc: BaseException) -> dict[str, Any]:
    trace = exc.__traceback__
    if trace is not None and trace.tb_next is not None:
        trace = trace.tb_next  # the bootstrap's own frame is not news
    text = "".join(traceback.format_exception(type(exc), exc, trace))
    return {"t": "err", "type": _type_name(exc), "msg": str(exc), "tb": text}


def run_call(message: dict[str, Any]) -> dict[str, Any]:
    """Import the function, call it (with the ``env`` given, if any, in
    ``os.environ``), and say how it went."""
    env = message.get("e")
    saved = dict(os.environ) if env else None
    try:
        if env:
            os.environ.update(env)
        target: Any = importlib.import_module(message["m"])
        for part in message["q"].split("."):
            target = getattr(target, part)
        args = decode(message["a"])
        kwargs = decode(message["k"])
        value = target(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the controller
        return _error(exc)
    finally:
        if saved is not None:  # the environment as it was, whatever the function did
            os.environ.clear()
            os.environ.update(saved)
    try:
        return {"t": "ok", "v": encode(value, "the return value of " + message["q"])}
    except TypeError as exc:
        return _error(exc)


def main() -> None:
    """Take over stdin/stdout for messages, then serve calls until end of file."""
    rfd = os.dup(0)
    wfd = os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    forwarder = Forwarder(Channel(rfd, wfd))
    channel = forwarder.channel
    sys.stdin = open(os.devnull)  # noqa: SIM115
    sys.stdout = open(1, "w", buffering=1, closefd=False, errors="backslashreplace")  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False, errors="backslashreplace")  # noqa: SIM115
    with contextlib.suppress(OSError):  # a group of our own (fails if a session leader)
        os.setpgid(0, 0)
    threading.Thread(target=forwarder.run, name="jobgraph-output", daemon=True).start()
    sys.meta_path.append(Finder(channel))
    channel.send(
        {
            "t": "hello",
            "pid": os.getpid(),
            "pgid": os.getpgrp(),
            "python": list(sys.version_info[:3]),
        }
    )
    while True:
        try:
            message = channel.receive()
        except EOFError:
            break
        if message.get("t") == "call":
            forwarder.open()
            reply = run_call(message)
            forwarder.close()
            channel.send(reply)
    os._exit(0)


if __name__ == "__main__":
    main()
