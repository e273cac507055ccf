"""What the command shows and writes: output lines, the progress view, per-host
outcomes, the summary table, the JSON file and the ``--mark`` directories.

Output lines of the hosts go to stdout (stderr lines to stderr); the progress view and
the summary go to stderr, so that ``jobgraph-ssh ... > out.txt`` or ``| grep`` get the
hosts' output only.

Local trouble is never a host's failure: characters the terminal's encoding cannot show
are written as ``\\xNN`` escapes (:func:`degrade_encoding_errors`); when stdout closes
(``| head -1``), writing stops quietly and the run goes on (:func:`stdout_closed`);
the output paths are checked before connecting (:func:`check_output_paths`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import jobgraph as jg
from jobgraph_ssh import (
    FilePerHostFormatter,
    Formatter,
    HostFormatter,
    RawFormatter,
    Stream,
    TimestampFormatter,
)
from jobgraph_ssh.lowlevel import Tail

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

    from ._push import PushReport

__all__ = [
    "HostOutcome",
    "LineSink",
    "ProgressView",
    "check_output_paths",
    "degrade_encoding_errors",
    "flush_stdout",
    "print_summary",
    "stdout_closed",
    "write_json",
    "write_marks",
    "write_stdout",
]

STATUS_OK = "ok"
JSON_KEEP = 1 << 20  # characters (the end) of each host's stdout, and of its stderr, in --json
ERROR_WIDTH = 120  # characters of an error kept in a --mark file
# the library's hint names the Python option; the command's user needs the flag
_PYTHON_HINT = "(host_key_policy='accept-new' records new keys)"
_CLI_HINT = "(--known-hosts accept-new records new keys)"

_closed: set[int] = set()  # file descriptors whose reader went away (stdout, stderr)
_closed_lock = threading.Lock()


def degrade_encoding_errors() -> None:
    """Let stdout and stderr write every character: those their encoding cannot hold
    become ``\\xNN`` escapes (what Python does on stderr already) instead of raising
    :class:`UnicodeEncodeError` in the middle of a host's output."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="backslashreplace")


def _silence(stream: IO[str]) -> None:
    """The reader of ``stream`` went away: send what is still written there to
    /dev/null (so that no later write or flush, not even at exit, raises)."""
    try:
        fd = stream.fileno()
    except (AttributeError, ValueError, OSError):
        return
    with _closed_lock:
        if fd in _closed:
            return
        _closed.add(fd)
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)


def stdout_closed() -> bool:
    """Whether stdout's reader went away during the run (``| head``)."""
    try:
        return sys.stdout.fileno() in _closed
    except (AttributeError, ValueError, OSError):
        return False


def write_stdout(text: str) -> None:
    """Write and flush ``text`` on stdout; nothing if its reader went away."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        _silence(sys.stdout)


def flush_stdout() -> None:
    """Flush stdout (what is left of the hosts' output), noting a closed pipe."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence(sys.stdout)


def _writable_directory(directory: str, what: str, *, make: bool) -> None:
    from ._options import UsageError

    try:
        if make:
            os.makedirs(directory, exist_ok=True)
        elif not os.path.isdir(directory):
            raise UsageError(f"{what}: no such directory: {directory!r}")
        handle, probe = tempfile.mkstemp(dir=directory, prefix=".jobgraph-ssh-")
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(f"{what}: cannot write there ({exc.strerror or exc})") from exc


def check_output_paths(*, out_dir: str | None, json_file: str | None, mark_dir: str | None) -> None:
    """Check, before connecting, that the run's output can be written: ``-d`` and
    ``--mark`` directories are made (with their parents) and written to once; the
    directory of the ``--json`` file must exist and be writable.

    Raises:
        UsageError: naming the option and the path at fault.
    """
    from ._options import UsageError

    if out_dir is not None:
        _writable_directory(out_dir, f"-d {out_dir!r}", make=True)
    if json_file is not None and json_file != "-":
        what = f"--json {json_file!r}"
        if os.path.isdir(json_file):
            raise UsageError(f"{what}: is a directory")
        parent = os.path.dirname(os.path.abspath(json_file))
        if not os.path.isdir(parent):
            raise UsageError(f"{what}: no such directory {parent!r}")
        _writable_directory(parent, what, make=False)
        if os.path.exists(json_file) and not os.access(json_file, os.W_OK):
            raise UsageError(f"{what}: cannot write there (permission denied)")
    if mark_dir is not None:
        for sub in ("ok", "ko"):
            _writable_directory(os.path.join(mark_dir, sub), f"--mark {mark_dir!r}", make=True)


@dataclass
class HostOutcome:
    """What became of one host."""

    host: str
    status: str  # ok, failed, timeout, unreachable, error, interrupted, not run
    exit_status: int | None = None
    signal: str | None = None
    duration: float | None = None
    error: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    push: PushReport | None = None  # --push: what was done, file by file
    stdout_cut: int = 0  # characters dropped from the start of stdout (JSON_KEEP)
    stderr_cut: int = 0

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def exit_text(self) -> str:
        if self.signal is not None:
            return f"SIG{self.signal}"
        return "" if self.exit_status is None else str(self.exit_status)

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "host": self.host,
            "status": self.status,
            "exit_status": self.exit_status,
            "signal": self.signal,
            "duration": None if self.duration is None else round(self.duration, 6),
            "error": self.error,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "stdout_truncated": self.stdout_cut,
            "stderr_truncated": self.stderr_cut,
        }
        if self.push is not None:
            entry["push"] = self.push.as_json()
        return entry


class LineSink:
    """The formatter given to every node: forwards lines to the display (or to
    nothing), and keeps the end of each host's lines (``limit`` characters per host and
    stream) when JSON output needs them."""

    def __init__(
        self, display: Formatter | None, *, keep: bool, verbose: bool, limit: int = JSON_KEEP
    ) -> None:
        self.display = display
        self.keep = keep
        self.verbose = verbose
        self.limit = limit
        self._kept: dict[tuple[str, Stream], Tail] = {}
        self._lock = threading.Lock()

    def line(self, host: str, stream: Stream, text: str) -> None:
        if self.keep:
            with self._lock:
                kept = self._kept.get((host, stream))
                if kept is None:
                    kept = self._kept[host, stream] = Tail(self.limit)
                kept.add(text + "\n")
        if self.display is not None:
            try:
                self.display.line(host, stream, text)
            except BrokenPipeError:  # the reader went away (| head): not the host's fault
                _silence(sys.stderr if stream == "stderr" else sys.stdout)

    def event(self, host: str, message: str) -> None:
        if self.display is not None and self.verbose:
            try:
                self.display.event(host, message)
            except BrokenPipeError:
                _silence(sys.stderr)

    def text(self, host: str, stream: Stream) -> str | None:
        if not self.keep:
            return None
        with self._lock:
            kept = self._kept.get((host, stream))
            return "" if kept is None else kept.text()

    def cut(self, host: str, stream: Stream) -> int:
        """Characters dropped from the start of what a host wrote on a stream."""
        with self._lock:
            kept = self._kept.get((host, stream))
            return 0 if kept is None else kept.cut

    def close(self) -> None:
        if isinstance(self.display, FilePerHostFormatter):
            self.display.close()


def make_display(
    kind: str, *, out_dir: str | None, to_stdout: bool, verbose: bool
) -> Formatter | None:
    """The formatter for output lines: ``--format``, or files with ``-d``; None for none."""
    if out_dir is not None:
        return FilePerHostFormatter(out_dir)
    if not to_stdout:
        return None
    if kind == "raw":
        return RawFormatter(verbose=verbose)
    if kind == "time":
        return TimestampFormatter(verbose=verbose)
    return HostFormatter(verbose=verbose)


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class ProgressView:
    """The live view of the hosts while the run goes on, on stderr.

    On a terminal, a rich panel: the counts by state and the hosts running, with their
    elapsed time; output lines and failures scroll above it. Otherwise one plain line
    per host as it ends. Built on the scheduler's events only.
    """

    MAX_SHOWN = 10

    def __init__(self, scheduler: jg.Scheduler, *, live: bool | None = None) -> None:
        self.scheduler = scheduler
        self.total = len(scheduler.jobs)
        self.live = _is_terminal(sys.stderr) if live is None else live
        self.done = 0
        self.failed = 0
        self.running: dict[str, float] = {}
        self.origin = time.monotonic()
        self._panel: Live | None = None
        self._console: Console | None = None
        self._unsubscribe: Any = None

    @contextlib.contextmanager
    def shown(self) -> Iterator[None]:
        """Show the view while the block runs."""
        self._unsubscribe = self.scheduler.subscribe(self)
        if self.live:
            from rich.console import Console
            from rich.live import Live

            self._console = Console(stderr=True)
            self._panel = Live(
                get_renderable=self._render,
                console=self._console,
                refresh_per_second=4,
                transient=True,
                # host output on stdout scrolls above the panel only when stdout is
                # this terminal too; a pipe gets it untouched
                redirect_stdout=_is_terminal(sys.stdout),
                redirect_stderr=True,
            )
            self._panel.start()
        try:
            yield
        finally:
            self._unsubscribe()
            if self._panel is not None:
                self._panel.stop()
                self._panel = None

    def __call__(self, event: jg.JobEvent) -> None:
        kind = event.kind
        if event.job is self.scheduler or kind not in (
            jg.EventKind.STARTED,
            jg.EventKind.FINISHED,
            jg.EventKind.FAILED,
            jg.EventKind.CANCELLED,
        ):
            return
        host = event.job.label
        if kind is jg.EventKind.STARTED:
            self.running[host] = time.monotonic()
            return
        started = self.running.pop(host, None)
        took = "" if started is None else f"{time.monotonic() - started:.2f}s"
        self.done += 1
        word = {"finished": "ok", "failed": "FAILED", "cancelled": "stopped"}[kind.value]
        if kind is not jg.EventKind.FINISHED:
            self.failed += 1
        error = ""
        if event.exception is not None:
            error = describe_error(event.exception)[1]
        if self._panel is not None:
            from rich.markup import escape

            if kind is not jg.EventKind.FINISHED:
                self._panel.console.print(
                    f"[bold red]✗ {escape(host)}[/] {escape(word)} {escape(error)}",
                    soft_wrap=True,
                )
            return
        line = f"[{self.done:>{len(str(self.total))}}/{self.total}] {word:<7} {host} {took}"
        if error:
            line += f"  {error}"
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def _render(self) -> RenderableType:
        from rich.console import Group
        from rich.text import Text

        now = time.monotonic()
        running = sorted(self.running.items(), key=lambda item: item[1])
        waiting = self.total - self.done - len(running)
        head = Text(f"jobgraph-ssh  {now - self.origin:.1f}s  ")
        head.append(f"{self.done - self.failed} ok", style="green")
        if self.failed:
            head.append(f"  {self.failed} failed", style="bold red")
        head.append(f"  {len(running)} running", style="cyan")
        if waiting:
            head.append(f"  {waiting} waiting", style="yellow")
        head.append(f"  of {self.total}")
        lines: list[RenderableType] = [head]
        for host, started in running[: self.MAX_SHOWN]:
            lines.append(Text(f"  ↺ {host}  {now - started:.1f}s", style="cyan"))
        if len(running) > self.MAX_SHOWN:
            lines.append(Text(f"  … and {len(running) - self.MAX_SHOWN} more"))
        return Group(*lines)


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(status, error text without the host) for an exception a host's job raised."""
    from jobgraph_ssh import (
        CommandFailedError,
        CommandTimeoutError,
        ConnectError,
        KeyFileError,
        SshError,
    )

    if isinstance(exc, CommandFailedError):
        tail = exc.stderr_tail[-1] if exc.stderr_tail else ""
        how = f"exit status {exc.exit_status}" if exc.signal is None else f"signal {exc.signal}"
        return "failed", f"{how}{': ' + tail if tail else ''}"
    if isinstance(exc, CommandTimeoutError):
        return "timeout", exc.message
    if isinstance(exc, jg.JobTimeoutError):
        return "timeout", str(exc)
    if isinstance(exc, ConnectError | KeyFileError):
        return "unreachable", exc.message.replace(_PYTHON_HINT, _CLI_HINT)
    if isinstance(exc, SshError):
        return "error", exc.message.replace(_PYTHON_HINT, _CLI_HINT)
    return "error", f"{type(exc).__name__}: {exc}"


def _one_line(text: str, width: int | None = ERROR_WIDTH) -> str:
    flat = " ".join(text.split())
    return flat if width is None or len(flat) <= width else flat[: width - 1] + "…"


def summary_line(outcomes: list[HostOutcome], elapsed: float) -> str:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    order = ["ok", "failed", "timeout", "unreachable", "error", "interrupted", "not run"]
    parts = [f"{counts[status]} {status}" for status in order if counts.get(status)]
    hosts = "host" if len(outcomes) == 1 else "hosts"
    return f"{', '.join(parts)} of {len(outcomes)} {hosts} in {elapsed:.2f}s"


def print_summary(outcomes: list[HostOutcome], elapsed: float, *, title: str) -> None:
    """The table of hosts (host, status, exit code, duration, error; for ``--push``,
    a push column before the error) on stderr: drawn with rich on a terminal, as plain
    aligned columns otherwise."""
    pushed = any(outcome.push is not None for outcome in outcomes)
    rows = [
        (
            outcome.host,
            outcome.status,
            outcome.exit_text(),
            "" if outcome.duration is None else f"{outcome.duration:.2f}s",
            *([outcome.push.describe() if outcome.push is not None else ""] if pushed else []),
            _one_line(outcome.error or "", None),  # whole: hints come last
        )
        for outcome in outcomes
    ]
    names = ["host", "status", "exit", "duration", *(["push"] if pushed else []), "error"]
    footer = summary_line(outcomes, elapsed)
    if _is_terminal(sys.stderr):
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        styles = {"ok": "green", "interrupted": "dark_orange", "not run": "grey50"}
        # Text, not markup: host names and errors (a remote stderr line) are shown as they are
        table = Table(title=Text(title), caption=Text(footer))
        for name in names:
            table.add_column(name, justify="right" if name in ("exit", "duration") else "left")
        for row in rows:
            style = styles.get(row[1], "bold red")
            table.add_row(
                Text(row[0]), Text(row[1], style=style), *(Text(cell) for cell in row[2:])
            )
        Console(stderr=True).print(table)
        return
    header = tuple(name.upper() for name in names)
    last = len(names) - 1  # the error, not padded
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(last)]
    lines = []
    for row in [header, *rows]:
        cells = [
            row[i].rjust(widths[i]) if i in (2, 3) else row[i].ljust(widths[i]) for i in range(last)
        ]
        lines.append("  ".join(cells) + ("  " + row[last] if row[last] else ""))
    sys.stderr.write("\n".join(line.rstrip() for line in lines) + f"\n{footer}\n")
    sys.stderr.flush()


def write_json(path: str, outcomes: list[HostOutcome]) -> None:
    """Per-host results as a JSON list, in target order (``-``: stdout); a line on
    stderr names the hosts whose output was cut to its end."""
    text = json.dumps([outcome.as_json() for outcome in outcomes], indent=2) + "\n"
    cut = []
    for outcome in outcomes:
        streams = [
            name
            for name, dropped in (("stdout", outcome.stdout_cut), ("stderr", outcome.stderr_cut))
            if dropped
        ]
        if streams:
            cut.append(f"{outcome.host} ({', '.join(streams)})")
    if cut:
        sys.stderr.write(
            f"--json: output cut to its last {JSON_KEEP // 1024} KiB for {len(cut)} "
            f"host{'s' if len(cut) > 1 else ''}: {', '.join(cut)}\n"
        )
    if path == "-":
        write_stdout(text)
        return
    temporary = f"{path}.tmp"
    Path(temporary).write_text(text)
    os.replace(temporary, path)


def write_marks(directory: str, outcomes: list[HostOutcome]) -> list[str]:
    """``DIR/ok/<host>`` for each host that succeeded, ``DIR/ko/<host>`` for the others
    (an older mark of the same host in the other directory is removed). Each file
    holds one line saying what happened.

    Returns:
        What could not be written, one line each (``ok/HOST: reason``); every other
        mark is written.
    """
    root = Path(directory)
    problems: list[str] = []
    try:
        for sub in ("ok", "ko"):
            (root / sub).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return [exc.strerror or str(exc)]
    for outcome in outcomes:
        name = outcome.host.replace("/", "_")
        good, bad = root / "ok" / name, root / "ko" / name
        keep, drop = (good, bad) if outcome.ok else (bad, good)
        detail = outcome.exit_text() or "-"
        try:
            drop.unlink(missing_ok=True)
            keep.write_text(
                f"{outcome.status} {detail} {_one_line(outcome.error or '')}".rstrip() + "\n"
            )
        except OSError as exc:
            problems.append(f"{keep.relative_to(root)}: {exc.strerror or exc}")
    return problems
