"""A live view of a run, drawn with ``rich`` from the engine's events only.

``with jobgraph.Progress(scheduler): await scheduler.run()`` (or
``jobgraph.run(scheduler, progress=True)``) shows, while the run goes on, a bar with
the share of jobs done and an estimate of the time left, how many jobs are in each
state, the running jobs with their elapsed time, and each failure as it happens; at the
end it prints a summary table. When the output is not a terminal, the live panel gives
way to one plain line per event. Nothing of this exists unless asked for: the engine
builds no event when nobody subscribes.

The view never turns a run into an error: characters the output cannot encode are
written as backslash escapes (its own symbols fall back to ASCII), and a failure to
draw is logged, not raised.

Counts cover the jobs at every depth; nested schedulers are not counted as jobs, but
their failures (a timeout, say) are reported like those of jobs. One rule holds for the
bar, the counts by state and the summary: they count the finite jobs, and forever jobs
are counted apart (``+1 forever: 1 running``), as the run does not wait for them; so
``4/20 done`` sits beside counts that add up to 20.
"""

from __future__ import annotations

import contextlib
import logging
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from jobgraph.lowlevel import (
    CriticalJobError,
    EventKind,
    JobEvent,
    MissingDependencyError,
    Scheduler,
    record_of,
)

from ._output import degrade, encodes

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console, RenderableType
    from rich.live import Live

    from jobgraph import AbstractJob

__all__ = ["Progress"]

logger = logging.getLogger("jobgraph")

# what each event makes of a job, in the words of JobRecord.outcome
_NEXT_STATE = {
    EventKind.SCHEDULED: "scheduled",
    EventKind.STARTED: "running",
    EventKind.FINISHED: "ok",
    EventKind.FAILED: "failed",
    EventKind.CANCELLED: "cancelled",
    EventKind.SKIPPED: "skipped",
}
_ORDER = ("ok", "failed", "cancelled", "skipped", "running", "scheduled", "idle")
_STYLE = {
    "ok": "green",
    "failed": "bold red",
    "cancelled": "dark_orange",
    "skipped": "grey50",
    "running": "cyan",
    "scheduled": "yellow",
    "idle": "grey70",
}
_PLAIN_WORDS = {
    EventKind.STARTED: "started",
    EventKind.READY: "ready",
    EventKind.RETRYING: "retrying",
    EventKind.FINISHED: "done",
    EventKind.FAILED: "FAILED",
    EventKind.CANCELLED: "cancelled",
    EventKind.SKIPPED: "skipped",
    EventKind.STRAGGLING: "STRAGGLING",
}
_MAX_RUNNING_SHOWN = 12
_FINAL = frozenset(("ok", "failed", "cancelled", "skipped"))
_BAR_WIDTH = 30
# the view's own symbols: failed, running, more, bar done, bar to do
_UNICODE_GLYPHS = ("\u2717", "\u21ba", "\u2026", "\u2588", "\u2591")
_ASCII_GLYPHS = ("x", ">", "...", "#", "-")


def _duration(seconds: float) -> str:
    """``4.2s``, ``42s``, ``3m07s``, ``2h05m``."""
    if seconds < 9.95:
        return f"{max(0.0, seconds):.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _by_state(counts: dict[str, int]) -> str:
    """``3 ok, 1 failed``: the states that have jobs, in the view's order."""
    return ", ".join(f"{counts[state]} {state}" for state in _ORDER if counts[state])


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _exception_text(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    return f"{type(exc).__name__}: {exc}"


class Progress:
    """Show the progress of ``scheduler``'s runs while the ``with`` block lasts.

    Args:
        scheduler: the scheduler to watch (its nested schedulers included).
        console: a ``rich.console.Console`` to draw on (default: a new one on stdout).
        live: True for the live panel, False for plain lines, None (default) for the
            panel only when the console is a terminal.
        refresh_per_second: how often the panel redraws.
        summary: print the table of outcomes when the block ends.

    Raises:
        MissingDependencyError: rich is not installed (``pip install
            'jobgraph[progress]'``).

    The panel shows the run's elapsed time, a bar of the finite jobs done (whatever
    their outcome: ok, failed, cancelled or skipped) out of all of them, the percentage,
    an estimate of the time left (from the pace so far), the counts of the finite jobs
    by state (``counts``; forever jobs apart, in ``forever_counts``) and the running
    jobs, each with the last note it told, if any (``NOTE`` events: an SSH job shows
    its host's connection state, like ``h1: authenticated``), or where it runs (``on
    tcp://10.0.0.7:40123``, ``on pid 1234``) when an executor said so.

    The object is itself the subscriber (a callable taking a :class:`~jobgraph.JobEvent`),
    so it can also be given to :meth:`Scheduler.subscribe` directly; its counts then
    start from the run's first event.
    """

    def __init__(
        self,
        scheduler: Scheduler,
        *,
        console: Console | None = None,
        live: bool | None = None,
        refresh_per_second: float = 4.0,
        summary: bool = True,
    ) -> None:
        try:
            from rich.console import Console
        except ImportError:
            raise MissingDependencyError("jobgraph.Progress", "rich", "progress") from None

        self.scheduler = scheduler
        self.console = console if console is not None else Console()
        self.live = self.console.is_terminal if live is None else live
        self.refresh_per_second = refresh_per_second
        self.summary = summary
        self.counts: dict[str, int] = dict.fromkeys(_ORDER, 0)  # finite jobs by state
        self.forever_counts: dict[str, int] = dict.fromkeys(_ORDER, 0)  # forever ones
        self.failures: list[tuple[AbstractJob, BaseException | None]] = []
        self._states: dict[AbstractJob, str] = {}
        self._forever: set[AbstractJob] = set()
        self._finite_done = 0  # finite jobs in a final state, for the bar
        self._running: dict[AbstractJob, float] = {}  # job -> monotonic start, for the panel
        self._started: dict[AbstractJob, float] = {}  # job -> loop time of its start
        self._durations: dict[AbstractJob, float] = {}  # loop seconds from start to end
        self._notes: dict[AbstractJob, str] = {}  # running job -> the last note it told
        self._origin = time.monotonic()
        self._t0: float | None = None  # loop time of the first event
        self._counted = False  # whether the jobs were counted as idle
        self._unsubscribe: Callable[[], None] | None = None
        self._panel: Live | None = None
        unicode = encodes("".join(_UNICODE_GLYPHS), self.console.encoding)
        self._glyphs = _UNICODE_GLYPHS if unicode else _ASCII_GLYPHS

    def _text(self, text: str) -> str:
        """``text`` on one line, with backslash escapes for what the console cannot
        encode."""
        return degrade(_one_line(text), self.console.encoding)

    def _reset(self) -> None:
        """Every job idle: before a run, or when one starts."""
        self._origin = time.monotonic()
        self.counts = dict.fromkeys(_ORDER, 0)
        self.forever_counts = dict.fromkeys(_ORDER, 0)
        self._states = {}
        self._forever = set()
        self._finite_done = 0
        self._running = {}
        self._started = {}
        self._durations = {}
        self._notes = {}
        self._t0 = None
        self.failures = []
        for job in self.scheduler.iterate_jobs():
            self._states[job] = "idle"
            if job.forever:
                self._forever.add(job)
        self.counts["idle"] = len(self._states) - len(self._forever)
        self.forever_counts["idle"] = len(self._forever)
        self._counted = True

    # -- context manager -----------------------------------------------------------
    def __enter__(self) -> Self:
        self._reset()
        # the native method: a subclass (the asynciojobs drop-in's) may own the name
        self._unsubscribe = Scheduler.subscribe(self.scheduler, self)
        if self.live:
            from rich.live import Live

            panel = Live(
                get_renderable=self._render,
                console=self.console,
                refresh_per_second=self.refresh_per_second,
                transient=True,
            )
            try:
                panel.start()
            except Exception:  # the run goes on without the panel
                logger.exception("jobgraph progress view failed to start its live panel")
                with contextlib.suppress(Exception):
                    panel.stop()
            else:
                self._panel = panel
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        try:
            if self._panel is not None:
                panel, self._panel = self._panel, None
                panel.stop()
            if self.summary:
                self.console.print(self.summary_table())
                self.console.print(self._text(self.scheduler.why()), markup=False)
        except Exception:
            # a view never turns a run into an error
            logger.exception("jobgraph progress view failed to draw its summary")

    # -- events --------------------------------------------------------------------
    def __call__(self, event: JobEvent) -> None:
        kind = event.kind
        job = event.job
        if kind is EventKind.RUN_STARTED and job is self.scheduler:
            self._reset()  # a new run: every job idle again, whatever came before
        elif not self._counted:
            self._reset()  # subscribed directly, first seen in the middle of a run
        if self._t0 is None:
            self._t0 = event.time
        if kind in (EventKind.RUN_STARTED, EventKind.RUN_FINISHED):
            return
        if kind is EventKind.NOTE:
            data = event.data or {}
            worker, host = data.get("worker"), data.get("host")
            if worker is not None:  # an executor says where the body runs
                self._notes[job] = f"on {worker}"
                if self._panel is None:
                    self._plain(event, self._notes[job])
            else:
                self._notes[job] = f"{host}: {event.note}" if host is not None else event.note
            return
        nested = isinstance(job, Scheduler)
        state = _NEXT_STATE.get(kind)
        if state is not None and not nested:
            self._move(job, state)
        if kind is EventKind.STARTED and not nested:
            self._running[job] = time.monotonic()
            self._started[job] = event.time
        elif kind in (EventKind.FINISHED, EventKind.FAILED, EventKind.CANCELLED):
            self._running.pop(job, None)
            self._notes.pop(job, None)
            started = self._started.get(job)
            if started is not None:
                self._durations[job] = event.time - started
        if kind is EventKind.FAILED and not isinstance(event.exception, CriticalJobError):
            self.failures.append((job, event.exception))
            self._say_failure(event)
        elif kind is EventKind.STRAGGLING:
            self._say(event, "[bold red]{label}[/] ignores cancellation", "")
        elif kind is EventKind.RETRYING:
            detail = (
                f"attempt {event.attempt} failed ({_exception_text(event.exception)}), "
                f"retrying in {event.delay:g}s"
            )
            self._say(event, "[yellow]{label}[/] {detail}", detail)
        elif self._panel is None and kind in _PLAIN_WORDS and not nested:
            self._plain(event, "")

    def _move(self, job: AbstractJob, state: str) -> None:
        old = self._states.get(job)
        if job in self._forever:
            counts = self.forever_counts
        else:
            counts = self.counts
            self._finite_done += (state in _FINAL) - (old in _FINAL)
        if old is not None:
            counts[old] -= 1
        self._states[job] = state
        counts[state] += 1

    def _elapsed(self) -> float:
        return time.monotonic() - self._origin

    def stats(self) -> str:
        """The counts on one line: the finite jobs, then the forever ones apart.

        Returns:
            Text like ``3 ok, 1 failed, 2 running, 4 idle of 10``, or with forever jobs
            ``3 ok, 7 running of 10 (+1 forever: 1 running)``; the total is the one of
            :meth:`fraction_done`.
        """
        forever = self._forever_text()
        return f"{self._finite_text()} ({forever})" if forever else self._finite_text()

    def _finite_text(self) -> str:
        """``3 ok, 1 failed of 4``: the finite jobs."""
        return _by_state(self.counts) + f" of {sum(self.counts.values())}"

    def _forever_text(self) -> str:
        """``+1 forever: 1 running``, or nothing without forever jobs."""
        total = sum(self.forever_counts.values())
        return f"+{total} forever: {_by_state(self.forever_counts)}" if total else ""

    def fraction_done(self) -> tuple[int, int]:
        """How far the finite jobs are (forever jobs end with the run).

        Returns:
            ``(done, total)``; done means finished whatever the outcome, skipped included.
        """
        return self._finite_done, len(self._states) - len(self._forever)

    def eta(self) -> float | None:
        """Seconds left at the pace so far, by the wall clock.

        Returns:
            The estimate, or None before the first job is done.
        """
        done, total = self.fraction_done()
        if done == 0 or total == 0:
            return None
        return self._elapsed() * (total - done) / done

    def _plain(self, event: JobEvent, extra: str) -> None:
        kind = event.kind
        word = event.note if kind is EventKind.NOTE else _PLAIN_WORDS.get(kind, kind.value)
        since = event.time - (self._t0 if self._t0 is not None else event.time)
        line = f"{since:8.2f}s  {word:<10} {_one_line(event.job.label)}"
        if extra:
            line += f"  {extra}"
        worker = record_of(event.job).worker  # where an executor ran the body, if one did
        if worker and event.kind in (EventKind.FINISHED, EventKind.FAILED):
            line += f"  on {worker}"
        self.console.print(
            degrade(line + f"  [{self.stats()}]", self.console.encoding),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    def _say(self, event: JobEvent, markup: str, detail: str) -> None:
        job = event.job
        if self._panel is None:
            self._plain(event, detail)
        else:
            from rich.markup import escape

            self._panel.console.print(
                markup.format(
                    label=escape(self._text(job.label)), detail=escape(self._text(detail))
                )
            )

    def _say_failure(self, event: JobEvent) -> None:
        text = _exception_text(event.exception)
        if self._panel is None:
            self._plain(event, text)
        else:
            from rich.markup import escape

            job = event.job
            critical = "critical " if job.critical else ""
            worker = record_of(job).worker
            where = f" (on {escape(worker)})" if worker else ""
            self._panel.console.print(
                f"[bold red]{self._glyphs[0]} {critical}job {escape(self._text(job.label))} "
                f"failed{where}:[/] {escape(self._text(text))}"
            )

    # -- drawing -------------------------------------------------------------------
    def bar_text(self) -> str:
        """The progress line of the panel.

        Returns:
            Text like ``[######--------]  42%  84/200 done  ETA 1m05s``.
        """
        done, total = self.fraction_done()
        share = done / total if total else 1.0
        filled = min(_BAR_WIDTH, int(share * _BAR_WIDTH))
        full, empty = self._glyphs[3], self._glyphs[4]
        bar = full * filled + empty * (_BAR_WIDTH - filled)
        eta = self.eta()
        left = "ETA --" if eta is None else f"ETA {_duration(eta)}"
        if done == total:
            left = ""
        return f"{bar} {share:4.0%}  {done}/{total} done  {left}".rstrip()

    def _render(self) -> RenderableType:
        from rich.text import Text

        try:
            return self._draw()
        except Exception:  # drawn from rich's thread: a failure must not stop the run
            logger.exception("jobgraph progress view failed to draw")
            return Text(self._text(self.stats()))

    def _draw(self) -> RenderableType:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        counts = self.counts.copy()  # drawn from rich's thread: work on copies
        forever = self._forever_text()
        running = self._running.copy()
        notes = self._notes.copy()
        now = time.monotonic()
        head = Text(f"{self._text(self.scheduler.label)}  {_duration(self._elapsed())}  ")
        head.append(self.bar_text(), style="bold")
        states = Text()
        for state in _ORDER:
            if counts[state]:
                states.append(f"{counts[state]} {state}", style=_STYLE[state])
                states.append("  ")
        if forever:
            states.append(forever, style="grey50")
        table = Table(box=None, show_header=False, padding=(0, 1))
        table.add_column("job")
        table.add_column("elapsed", justify="right")
        table.add_column("note", style="grey50")
        by_start = sorted(running.items(), key=lambda item: item[1])
        for job, started in by_start[:_MAX_RUNNING_SHOWN]:
            note = notes.get(job)
            if note is None:  # where an executor runs it, if it said
                worker = record_of(job).worker
                note = f"on {worker}" if worker else ""
            table.add_row(
                f"{self._glyphs[1]} {self._text(job.label)}",
                f"{now - started:.1f}s",
                self._text(note),
            )
        if len(by_start) > _MAX_RUNNING_SHOWN:
            more = f"{self._glyphs[2]} and {len(by_start) - _MAX_RUNNING_SHOWN} more"
            table.add_row(more, "", "")
        return Group(head, states, table)

    def summary_table(self) -> Any:
        """A table of the jobs by outcome.

        Returns:
            A ``rich.table.Table``: for each outcome, how many finite jobs, their busy
            time (from start to end, by the event loop's clock) and the longest of them;
            then the forever jobs on a row of their own; the caption counts the finite
            jobs.
        """
        from rich.markup import escape
        from rich.table import Table

        # the caption sums the rows of finite jobs; the forever ones have their own row
        title = escape(self._text(self.scheduler.label))
        table = Table(title=title, caption=self._finite_text())
        table.add_column("outcome")
        table.add_column("jobs", justify="right")
        table.add_column("busy time", justify="right")
        table.add_column("longest")
        by_state: dict[str, list[AbstractJob]] = {}
        for job, state in self._states.items():
            if job not in self._forever:
                by_state.setdefault(state, []).append(job)
        rows = [(state, by_state.get(state, [])) for state in _ORDER[:-2]]
        rows.append(("never ran", by_state.get("scheduled", []) + by_state.get("idle", [])))
        rows.append(("forever", [job for job in self._states if job in self._forever]))
        for outcome, jobs in rows:
            if not jobs:
                continue
            timed = [(self._durations[job], job) for job in jobs if job in self._durations]
            busy = f"{sum(seconds for seconds, _ in timed):.2f}s" if timed else ""
            longest = ""
            if timed:
                seconds, job = max(timed, key=lambda pair: pair[0])
                longest = escape(f"{self._text(job.label)} ({seconds:.2f}s)")
            style = _STYLE.get(outcome, "grey70")
            table.add_row(f"[{style}]{outcome}[/]", str(len(jobs)), busy, longest)
        return table
