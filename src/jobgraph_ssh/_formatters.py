"""Where command output goes: formatters.

A formatter receives each line of output as it arrives (without its newline), with
the host it came from and the stream (``"stdout"`` or ``"stderr"``). Lines are not
held in memory by the SSH layer unless a formatter keeps them (:class:`CaptureFormatter`)
or a job asks to keep its output. Under trio, formatters are called from the thread
that runs asyncssh, so they must be thread-safe (printing and appending to a list are).
"""

from __future__ import annotations

import sys
import threading
from typing import Literal, Protocol, TextIO, runtime_checkable

__all__ = [
    "CaptureFormatter",
    "Formatter",
    "HostFormatter",
    "RawFormatter",
    "Stream",
]

Stream = Literal["stdout", "stderr"]


@runtime_checkable
class Formatter(Protocol):
    """What the SSH layer calls with output lines and connection events."""

    def line(self, host: str, stream: Stream, text: str) -> None:
        """One line of output (without its newline) from ``host`` on ``stream``."""

    def event(self, host: str, message: str) -> None:
        """A connection event (connecting, authenticated...), shown when verbose."""


class _Writer:
    """Shared plumbing: stdout lines to one file, stderr lines to another."""

    def __init__(
        self, *, out: TextIO | None = None, err: TextIO | None = None, verbose: bool = False
    ) -> None:
        self._out = out
        self._err = err
        self.verbose = verbose
        self._lock = threading.Lock()

    def _write(self, stream: Stream, text: str) -> None:
        file = (self._err or sys.stderr) if stream == "stderr" else (self._out or sys.stdout)
        with self._lock:
            file.write(text + "\n")

    def event(self, host: str, message: str) -> None:
        if self.verbose:
            self._write("stderr", f"{host}: [{message}]")


class HostFormatter(_Writer):
    """The default: each line prefixed with its host, ``host: line``.

    stdout lines go to ``out`` (default ``sys.stdout``), stderr lines to ``err``
    (default ``sys.stderr``), each as it comes.
    """

    def line(self, host: str, stream: Stream, text: str) -> None:
        self._write(stream, f"{host}: {text}")


class RawFormatter(_Writer):
    """Lines as they are, no prefix (stdout to ``out``, stderr to ``err``)."""

    def line(self, host: str, stream: Stream, text: str) -> None:
        self._write(stream, text)


class CaptureFormatter:
    """Keeps every line in memory, per host and stream, in arrival order.

    ``lines`` holds ``(host, stream, text)`` triples; :meth:`text` joins one host's
    lines of one stream.
    """

    def __init__(self) -> None:
        self.lines: list[tuple[str, Stream, str]] = []
        self.events: list[tuple[str, str]] = []

    def line(self, host: str, stream: Stream, text: str) -> None:
        self.lines.append((host, stream, text))

    def event(self, host: str, message: str) -> None:
        self.events.append((host, message))

    def text(self, host: str | None = None, stream: Stream = "stdout") -> str:
        """The lines of ``stream`` (from ``host``, or every host), each ending in a newline."""
        return "".join(
            f"{text}\n"
            for where, which, text in self.lines
            if which == stream and (host is None or where == host)
        )
