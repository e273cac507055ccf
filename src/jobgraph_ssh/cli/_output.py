"""What the command shows and writes: output lines, the progress view, per-host
outcomes, the summary table, the JSON file and the ``--mark`` directories.

Output lines of the hosts go to stdout (stderr lines to stderr); the progress view and
the summary go to stderr, so that ``jobgraph-ssh ... > out.txt`` or ``| grep`` get the
hosts' output only.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
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
from jobgraph_ssh._connection import Tail

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

    from ._push import PushReport

__all__ = ["HostOutcome", "LineSink", "ProgressView", "print_summary", "write_json", "write_marks"]

STATUS_OK = "ok"
JSON_KEEP = 1 << 20  # characters (the end) of each host's stdout, and of its stderr, in --json
ERROR_WIDTH = 120  # characters of an error shown in the summary


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
            self.display.line(host, stream, text)

    def event(self, host: str, message: str) -> None:
        if self.display is not None and self.verbose:
            self.display.event(host, message)

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
        return "unreachable", exc.message
    if isinstance(exc, SshError):
        return "error", exc.message
    return "error", f"{type(exc).__name__}: {exc}"


def _one_line(text: str, width: int = ERROR_WIDTH) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def summary_line(outcomes: list[HostOutcome], elapsed: float) -> str:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    order = ["ok", "failed", "timeout", "unreachable", "error", "interrupted", "not run"]
    parts = [f"{counts[status]} {status}" for status in order if counts.get(status)]
    return f"{', '.join(parts)} of {len(outcomes)} hosts in {elapsed:.2f}s"


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
            _one_line(outcome.error or ""),
        )
        for outcome in outcomes
    ]
    names = ["host", "status", "exit", "duration", *(["push"] if pushed else []), "error"]
    footer = summary_line(outcomes, elapsed)
    if _is_terminal(sys.stderr):
        from rich.console import Console
        from rich.table import Table

        styles = {"ok": "green", "interrupted": "dark_orange", "not run": "grey50"}
        table = Table(title=title, caption=footer)
        for name in names:
            table.add_column(name, justify="right" if name in ("exit", "duration") else "left")
        for row in rows:
            style = styles.get(row[1], "bold red")
            table.add_row(row[0], f"[{style}]{row[1]}[/]", *row[2:])
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
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    temporary = f"{path}.tmp"
    Path(temporary).write_text(text)
    os.replace(temporary, path)


def write_marks(directory: str, outcomes: list[HostOutcome]) -> None:
    """``DIR/ok/<host>`` for each host that succeeded, ``DIR/ko/<host>`` for the others
    (an older mark of the same host in the other directory is removed). Each file
    holds one line saying what happened."""
    root = Path(directory)
    for sub in ("ok", "ko"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for outcome in outcomes:
        name = outcome.host.replace("/", "_")
        good, bad = root / "ok" / name, root / "ko" / name
        keep, drop = (good, bad) if outcome.ok else (bad, good)
        drop.unlink(missing_ok=True)
        detail = outcome.exit_text() or "-"
        keep.write_text(
            f"{outcome.status} {detail} {_one_line(outcome.error or '')}".rstrip() + "\n"
        )
