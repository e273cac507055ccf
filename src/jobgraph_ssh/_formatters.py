"""Where command output goes: formatters.

A formatter receives each line of output as it arrives (without its newline), with
the host it came from and the stream (``"stdout"`` or ``"stderr"``). Lines are not
held in memory by the SSH layer unless a formatter keeps them (:class:`CaptureFormatter`)
or a job asks to keep its output. Under trio, formatters are called from the thread
that runs asyncssh, so they must be thread-safe (printing and appending to a list are).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Literal, Protocol, TextIO, runtime_checkable

__all__ = [
    "CaptureFormatter",
    "FilePerHostFormatter",
    "Formatter",
    "HostFormatter",
    "RawFormatter",
    "Stream",
    "TimestampFormatter",
]

Stream = Literal["stdout", "stderr"]


@runtime_checkable
class Formatter(Protocol):
    """What the SSH layer calls with output lines and connection events."""

    def line(self, host: str, stream: Stream, text: str) -> None:
        """One line of output (without its newline) from ``host`` on ``stream``.

        Called as the line arrives (under trio, from the thread running asyncssh):
        it should neither block nor raise (an exception stops the command and
        fails its job).

        Args:
            host: the node's label (how output is prefixed).
            stream: ``"stdout"`` or ``"stderr"``.
            text: the line, without its newline.
        """

    def event(self, host: str, message: str) -> None:
        """A connection event (connecting, authenticated...), shown when verbose.

        Events go to the node's formatter (not a job's ``formatter=``); an
        exception raised here is ignored.

        Args:
            host: the node's label.
            message: what happened (``"connecting"``, ``"authenticated"``,
                ``"disconnected"``...).
        """


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
        """Write ``host: [message]`` to ``err`` if ``verbose``, else nothing.

        Args:
            host: the node's label.
            message: what happened (``"connecting"``, ``"authenticated"``,
                ``"disconnected"``...).
        """
        if self.verbose:
            self._write("stderr", f"{host}: [{message}]")


class HostFormatter(_Writer):
    """The default: each line prefixed with its host, ``host: line``.

    stdout lines go to ``out`` (default ``sys.stdout``), stderr lines to ``err``
    (default ``sys.stderr``), each as it comes.

    Args:
        out: the file for stdout lines (None: ``sys.stdout`` at the time of writing).
        err: the file for stderr lines and events (None: ``sys.stderr``).
        verbose: also write connection events, as ``host: [message]``.
    """

    def line(self, host: str, stream: Stream, text: str) -> None:
        """Write ``host: text`` to ``out`` or ``err``.

        Args:
            host: the node's label (how output is prefixed).
            stream: ``"stdout"`` or ``"stderr"``.
            text: the line, without its newline.
        """
        self._write(stream, f"{host}: {text}")


class RawFormatter(_Writer):
    """Lines as they are, no prefix (stdout to ``out``, stderr to ``err``).

    Args:
        out: the file for stdout lines (None: ``sys.stdout``).
        err: the file for stderr lines and events (None: ``sys.stderr``).
        verbose: also write connection events, as ``host: [message]``.
    """

    def line(self, host: str, stream: Stream, text: str) -> None:
        """Write ``text`` to ``out`` or ``err``, as it is.

        Args:
            host: the node's label (how output is prefixed).
            stream: ``"stdout"`` or ``"stderr"``.
            text: the line, without its newline.
        """
        self._write(stream, text)


class CaptureFormatter:
    """Keeps every line in memory, per host and stream, in arrival order.

    ``lines`` holds ``(host, stream, text)`` triples; :meth:`text` joins one host's
    lines of one stream. ``events`` holds ``(host, message)`` pairs. Memory grows with
    the output: keep it for tests and small runs.
    """

    def __init__(self) -> None:
        self.lines: list[tuple[str, Stream, str]] = []
        self.events: list[tuple[str, str]] = []

    def line(self, host: str, stream: Stream, text: str) -> None:
        """Append ``(host, stream, text)`` to ``lines``.

        Args:
            host: the node's label (how output is prefixed).
            stream: ``"stdout"`` or ``"stderr"``.
            text: the line, without its newline.
        """
        self.lines.append((host, stream, text))

    def event(self, host: str, message: str) -> None:
        """Append ``(host, message)`` to ``events``.

        Args:
            host: the node's label.
            message: what happened (``"connecting"``, ``"authenticated"``,
                ``"disconnected"``...).
        """
        self.events.append((host, message))

    def text(self, host: str | None = None, stream: Stream = "stdout") -> str:
        """The lines of ``stream`` (from ``host``, or every host), each ending in a newline.

        Args:
            host: the node's label, or None for every host (lines in arrival order).
            stream: ``"stdout"`` (default) or ``"stderr"``.

        Returns:
            The lines joined, each with its newline; ``""`` if there are none.
        """
        return "".join(
            f"{text}\n"
            for where, which, text in self.lines
            if which == stream and (host is None or where == host)
        )


class TimestampFormatter(_Writer):
    """``HH:MM:SS host: line``, the wall-clock time each line arrived (local time).

    Args:
        out: the file for stdout lines (None: ``sys.stdout``).
        err: the file for stderr lines and events (None: ``sys.stderr``).
        verbose: also write connection events, as ``host: [message]``.
        time_format: the :func:`time.strftime` format of the time stamp.
    """

    def __init__(
        self,
        *,
        out: TextIO | None = None,
        err: TextIO | None = None,
        verbose: bool = False,
        time_format: str = "%H:%M:%S",
    ) -> None:
        super().__init__(out=out, err=err, verbose=verbose)
        self.time_format = time_format

    def line(self, host: str, stream: Stream, text: str) -> None:
        """Write ``TIME host: text`` to ``out`` or ``err``.

        Args:
            host: the node's label (how output is prefixed).
            stream: ``"stdout"`` or ``"stderr"``.
            text: the line, without its newline.
        """
        self._write(stream, f"{time.strftime(self.time_format)} {host}: {text}")


class FilePerHostFormatter:
    """Each host's lines go to a file of its own in ``directory``: ``<host>.out`` for
    stdout and ``<host>.err`` for stderr (made on the first line; ``/`` in a host name
    becomes ``_``). Files are opened in append mode and kept open until :meth:`close`
    (also a context manager). Each line is flushed as it is written.

    Args:
        directory: where the files go; made (with its parents) now.

    Raises:
        OSError: the directory cannot be made.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._files: dict[tuple[str, Stream], TextIO] = {}
        self._lock = threading.Lock()

    def path(self, host: str, stream: Stream = "stdout") -> Path:
        """The file that receives ``host``'s lines of ``stream``.

        Args:
            host: the node's label.
            stream: ``"stdout"`` (default) or ``"stderr"``.

        Returns:
            Its path (it exists once a line was written).
        """
        suffix = ".err" if stream == "stderr" else ".out"
        return self.directory / (host.replace("/", "_") + suffix)

    def line(self, host: str, stream: Stream, text: str) -> None:
        """Append ``text`` to the host's file for ``stream``, opening it if needed.

        Args:
            host: the node's label (how output is prefixed).
            stream: ``"stdout"`` or ``"stderr"``.
            text: the line, without its newline.
        """
        with self._lock:
            file = self._files.get((host, stream))
            if file is None:
                file = self._files[host, stream] = self.path(host, stream).open("a")
            file.write(text + "\n")
            file.flush()

    def event(self, host: str, message: str) -> None:
        """Connection events are not written (see the other formatters' ``verbose``).

        Args:
            host: the node's label.
            message: what happened (``"connecting"``, ``"authenticated"``,
                ``"disconnected"``...).
        """

    def close(self) -> None:
        """Close every file."""
        with self._lock:
            for file in self._files.values():
                file.close()
            self._files.clear()

    def __enter__(self) -> FilePerHostFormatter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
