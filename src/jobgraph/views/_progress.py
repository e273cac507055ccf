"""A live view of a run, drawn with ``rich`` from the engine's events only.

``with jobgraph.Progress(scheduler): await scheduler.run()`` (or
``jobgraph.run(scheduler, progress=True)``) shows, while the run goes on, how many jobs
are in each state, the running jobs with their elapsed time, and each failure as it
happens; at the end it prints a summary table. When the output is not a terminal, the
live panel gives way to one plain line per event. Nothing of this exists unless asked
for: the engine builds no event when nobody subscribes.

Counts cover the jobs at every depth; nested schedulers are not counted as jobs, but
their failures (a timeout, say) are reported like those of jobs.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from jobgraph import CriticalJobError, EventKind, JobEvent, Scheduler

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console, RenderableType
    from rich.live import Live

    from jobgraph import AbstractJob

__all__ = ["Progress"]

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


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _exception_text(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    return f"{type(exc).__name__}: {exc}"


class Progress:
    """Show the progress of ``scheduler``'s runs while the ``with`` block lasts.

    ``console``: a ``rich.console.Console`` to draw on (default: a new one on stdout).
    ``live``: True for the live panel, False for plain lines, None (default) for the
    panel only when the console is a terminal. ``refresh_per_second``: how often the
    panel redraws. ``summary``: print the table of outcomes when the block ends.

    The object is itself the subscriber (a callable taking a :class:`~jobgraph.JobEvent`),
    so it can also be given to :meth:`Scheduler.subscribe` directly.
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
        from rich.console import Console

        self.scheduler = scheduler
        self.console = console if console is not None else Console()
        self.live = self.console.is_terminal if live is None else live
        self.refresh_per_second = refresh_per_second
        self.summary = summary
        self.counts: dict[str, int] = dict.fromkeys(_ORDER, 0)
        self.failures: list[tuple[AbstractJob, BaseException | None]] = []
        self._states: dict[AbstractJob, str] = {}
        self._running: dict[AbstractJob, float] = {}  # job -> monotonic start, for the panel
        self._started: dict[AbstractJob, float] = {}  # job -> loop time of its start
        self._durations: dict[AbstractJob, float] = {}  # loop seconds from start to end
        self._origin = time.monotonic()
        self._t0: float | None = None  # loop time of the first event
        self._unsubscribe: Callable[[], None] | None = None
        self._panel: Live | None = None

    # -- context manager -----------------------------------------------------------
    def __enter__(self) -> Self:
        self._origin = time.monotonic()
        self.counts = dict.fromkeys(_ORDER, 0)
        self._states = {}
        self._running = {}
        self._started = {}
        self._durations = {}
        self._t0 = None
        self.failures = []
        for job in self.scheduler.iterate_jobs():
            self._states[job] = "idle"
            self.counts["idle"] += 1
        self._unsubscribe = self.scheduler.subscribe(self)
        if self.live:
            from rich.live import Live

            self._panel = Live(
                get_renderable=self._render,
                console=self.console,
                refresh_per_second=self.refresh_per_second,
                transient=True,
            )
            self._panel.start()
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
        if self._panel is not None:
            self._panel.stop()
            self._panel = None
        if self.summary:
            self.console.print(self.summary_table())
            self.console.print(self.scheduler.why())

    # -- events --------------------------------------------------------------------
    def __call__(self, event: JobEvent) -> None:
        kind = event.kind
        job = event.job
        if self._t0 is None:
            self._t0 = event.time
        if kind in (EventKind.RUN_STARTED, EventKind.RUN_FINISHED):
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
        if old is not None:
            self.counts[old] -= 1
        self._states[job] = state
        self.counts[state] += 1

    def _elapsed(self) -> float:
        return time.monotonic() - self._origin

    def stats(self) -> str:
        """The counts on one line, like ``3 ok, 1 failed, 2 running, 4 idle of 10``."""
        shown = [f"{self.counts[state]} {state}" for state in _ORDER if self.counts[state]]
        return ", ".join(shown) + f" of {sum(self.counts.values())}"

    def _plain(self, event: JobEvent, extra: str) -> None:
        word = _PLAIN_WORDS.get(event.kind, event.kind.value)
        since = event.time - (self._t0 if self._t0 is not None else event.time)
        line = f"{since:8.2f}s  {word:<10} {_one_line(event.job.label)}"
        if extra:
            line += f"  {extra}"
        worker = event.job.record.worker  # where an executor ran the body, if one did
        if worker and event.kind in (EventKind.FINISHED, EventKind.FAILED):
            line += f"  on {worker}"
        self.console.print(
            line + f"  [{self.stats()}]", markup=False, highlight=False, soft_wrap=True
        )

    def _say(self, event: JobEvent, markup: str, detail: str) -> None:
        job = event.job
        if self._panel is None:
            self._plain(event, detail)
        else:
            from rich.markup import escape

            self._panel.console.print(markup.format(label=escape(job.label), detail=escape(detail)))

    def _say_failure(self, event: JobEvent) -> None:
        text = _exception_text(event.exception)
        if self._panel is None:
            self._plain(event, text)
        else:
            from rich.markup import escape

            job = event.job
            critical = "critical " if job.critical else ""
            where = f" (on {escape(job.record.worker)})" if job.record.worker else ""
            self._panel.console.print(
                f"[bold red]✗ {critical}job {escape(job.label)} failed{where}:[/] {escape(text)}"
            )

    # -- drawing -------------------------------------------------------------------
    def _render(self) -> RenderableType:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        counts = self.counts.copy()  # drawn from rich's thread: work on copies
        running = self._running.copy()
        now = time.monotonic()
        head = Text(f"{self.scheduler.label}  {self._elapsed():.1f}s  ")
        for state in _ORDER:
            if counts[state]:
                head.append(f"{counts[state]} {state}", style=_STYLE[state])
                head.append("  ")
        table = Table(box=None, show_header=False, padding=(0, 1))
        table.add_column("job")
        table.add_column("elapsed", justify="right")
        by_start = sorted(running.items(), key=lambda item: item[1])
        for job, started in by_start[:_MAX_RUNNING_SHOWN]:
            table.add_row(f"↺ {_one_line(job.label)}", f"{now - started:.1f}s")
        if len(by_start) > _MAX_RUNNING_SHOWN:
            table.add_row(f"… and {len(by_start) - _MAX_RUNNING_SHOWN} more", "")
        return Group(head, table)

    def summary_table(self) -> Any:
        """A ``rich.table.Table`` of the jobs by outcome: how many, their busy time
        (from start to end, by the event loop's clock) and the longest of them."""
        from rich.table import Table

        table = Table(title=_one_line(self.scheduler.label), caption=self.stats())
        table.add_column("outcome")
        table.add_column("jobs", justify="right")
        table.add_column("busy time", justify="right")
        table.add_column("longest")
        by_state: dict[str, list[AbstractJob]] = {}
        for job, state in self._states.items():
            by_state.setdefault(state, []).append(job)
        rows = [(state, by_state.get(state, [])) for state in _ORDER[:-2]]
        rows.append(("never ran", by_state.get("scheduled", []) + by_state.get("idle", [])))
        for outcome, jobs in rows:
            if not jobs:
                continue
            timed = [(self._durations[job], job) for job in jobs if job in self._durations]
            busy = f"{sum(seconds for seconds, _ in timed):.2f}s" if timed else ""
            longest = ""
            if timed:
                seconds, job = max(timed, key=lambda pair: pair[0])
                longest = f"{_one_line(job.label)} ({seconds:.2f}s)"
            style = _STYLE.get(outcome, "grey70")
            table.add_row(f"[{style}]{outcome}[/]", str(len(jobs)), busy, longest)
        return table
