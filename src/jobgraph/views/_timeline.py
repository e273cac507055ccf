"""A Gantt chart of a scheduler's last run, written as SVG with the standard library.

One row per job (nested schedulers and their jobs included, in listing order). A bar
runs from the job's start to its end, filled with the colour of its outcome (the
colours of :data:`jobgraph.views._dot.OUTCOME_COLOURS`); its border is thick for a
critical job, dashed for a forever one, red for a failure, orange for a cancellation.
A job retried after failures has one segment per attempt, the failed ones red and
hatched, with a dotted line for the backoff between them. A hatched grey bar before a
job's first segment shows the time it waited for a slot in its scheduler's window
(from ``scheduled_at`` to ``started_at``; waits shorter than half a pixel are left
out). A job still running reaches "now" when the chart is drawn during the run (the
end of the run afterwards); skipped jobs get a grey tick where they were skipped; jobs
that never ran have no bar. Every bar carries ``data-job``, ``data-outcome`` and a
tooltip (with the exception, for failures).

Huge runs are cut: only the first :data:`TIMELINE_MAX_JOBS` rows are drawn (the time
axis still spans the whole run) and a note at the top and the bottom of the picture
says how many jobs were left out and how they ended.
"""

from __future__ import annotations

import collections
import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import anyio

from jobgraph.lowlevel import (
    AbstractJob,
    CycleError,
    InvalidOptionError,
    JobState,
    Scheduler,
    record_of,
)

from ._dot import OUTCOME_COLOURS
from ._listing import _number_any
from ._paths import checked_path

__all__ = ["TIMELINE_MAX_JOBS", "export_timeline_svg", "timeline_svg"]

# rows drawn by default: a 200,000-job run would otherwise make a 100 MB picture
TIMELINE_MAX_JOBS = 1000

SVG_NS = "http://www.w3.org/2000/svg"
_LABEL_WIDTH = 260
_CHART_WIDTH = 640
_ROW = 22
_TOP = 40
_BOTTOM = 84
_NOTE = 26  # room for the note about rows left out
_BAR_STROKE = {"failed": "#c62828", "cancelled": "#ef6c00"}
_EXCEPTION_CHARS = 300  # of an exception's message, in a tooltip


def _rows(scheduler: Scheduler) -> list[tuple[AbstractJob, int]]:
    """(job, depth) in listing order; insertion order where there is a cycle."""
    rows: list[tuple[AbstractJob, int]] = []

    def walk(level: Scheduler, depth: int) -> None:
        try:
            order = list(level.topological_order())
        except CycleError:
            order = list(level.jobs)
        for job in order:
            rows.append((job, depth))
            if isinstance(job, Scheduler):
                walk(job, depth + 1)

    walk(scheduler, 0)
    return rows


def _tick_step(span: float) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving 4 to 10 ticks."""
    if span <= 0:
        return 1.0
    raw = span / 6
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return float(factor * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _fmt(seconds: float) -> str:
    return f"{seconds:.3g}s" if seconds < 10 else f"{seconds:.1f}s"


def _exception_text(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    if len(text) > _EXCEPTION_CHARS:
        text = text[: _EXCEPTION_CHARS - 1] + "\u2026"
    return text


def _loop_now() -> float | None:
    """The event loop's clock, or None outside an event loop."""
    try:
        return anyio.current_time()
    except RuntimeError:  # no async library running in this thread
        return None


def _checked_max(function: str, max_jobs: object) -> int | None:
    if max_jobs is None:
        return None
    if isinstance(max_jobs, bool) or not isinstance(max_jobs, int) or max_jobs < 1:
        raise InvalidOptionError(
            f"{function}(): max_jobs must be a positive int or None (no limit), not {max_jobs!r}"
        )
    return max_jobs


@dataclass(frozen=True)
class _Layout:
    """Where things go: the time span drawn and the vertical bands of the picture."""

    origin: float  # the moment at the chart's left edge
    end: float  # the moment at its right edge (now, for a run going on)
    top: float  # the first row's y
    rows_height: float
    note_height: float  # 0, or room for the note about rows left out

    @property
    def span(self) -> float:
        return self.end - self.origin

    @property
    def axis_y(self) -> float:
        return self.top + self.rows_height + 6

    @property
    def width(self) -> int:
        return _LABEL_WIDTH + _CHART_WIDTH + 20

    @property
    def height(self) -> float:
        return self.top + self.rows_height + _BOTTOM + self.note_height

    def x_of(self, moment: float) -> float:
        scale = _CHART_WIDTH / self.span if self.span > 0 else 0.0
        return round(_LABEL_WIDTH + (moment - self.origin) * scale, 2)


def _layout(scheduler: Scheduler, every_row: list[tuple[AbstractJob, int]], drawn: int) -> _Layout:
    """The time span of the run (every row counts, drawn or not) and the bands."""
    record = record_of(scheduler)
    times = [
        moment
        for job, _ in every_row
        for job_record in (record_of(job),)
        for moment in (job_record.scheduled_at, job_record.started_at, job_record.ended_at)
        if moment is not None
    ]
    origin = record.started_at if record.started_at is not None else min(times, default=0.0)
    end_candidates = [*times, origin]
    if record.ended_at is not None:
        end_candidates.append(record.ended_at)
    elif record.state is JobState.RUNNING:
        # drawn during the run: what is still running reaches now
        now = _loop_now()
        if now is not None:
            end_candidates.append(now)
    note_height = _NOTE if drawn < len(every_row) else 0
    return _Layout(
        origin=origin,
        end=max(end_candidates),
        top=_TOP + note_height,
        rows_height=_ROW * drawn,
        note_height=note_height,
    )


def timeline_svg(scheduler: Scheduler, *, max_jobs: int | None = TIMELINE_MAX_JOBS) -> str:
    """The SVG text of the Gantt chart of the scheduler's last run (or of the run going
    on, up to now).

    One row per job (nested ones included, in listing order; insertion order if a
    scheduler has a cycle), one bar per job that ran, coloured by outcome, after a
    hatched bar for the wait for a window slot. Before any run, the chart has the rows
    and no bars.

    Args:
        scheduler: the scheduler whose run to draw.
        max_jobs: draw at most this many rows (jobs and nested schedulers, in listing
            order), with a note of what was left out; None draws every job.

    Raises:
        InvalidOptionError: ``max_jobs`` is not a positive int or None.

    Returns:
        The SVG document, as text.
    """
    max_jobs = _checked_max("timeline_svg", max_jobs)
    _number_any(scheduler)
    every_row = _rows(scheduler)
    rows = every_row if max_jobs is None else every_row[:max_jobs]
    layout = _layout(scheduler, every_row, len(rows))
    svg = _canvas(layout)
    title = ET.SubElement(svg, "text", {"x": "10", "y": "20", "font-weight": "bold"})
    title.text = f"{scheduler.label}: {scheduler.why()}"
    left_out = every_row[len(rows) :]
    if left_out:
        note = _left_out_note(len(rows), len(every_row), left_out)
        # above the rows, and below the time axis
        for y in (_TOP + 2, layout.axis_y + 34):
            text = ET.SubElement(
                svg,
                "text",
                {
                    "class": "note",
                    "x": "10",
                    "y": str(y),
                    "fill": "#b71c1c",
                    "font-style": "italic",
                },
            )
            text.text = note
    _axis(svg, layout)
    bars = ET.SubElement(svg, "g", {"class": "jobs"})
    for index, (job, depth) in enumerate(rows):
        _row(bars, job, depth, layout.top + index * _ROW, layout)
    _legend(svg, layout.axis_y + 34 + layout.note_height)
    return ET.tostring(svg, encoding="unicode", xml_declaration=True) + "\n"


def _canvas(layout: _Layout) -> ET.Element:
    """The ``<svg>`` element, with the hatching patterns the bars use."""
    ET.register_namespace("", SVG_NS)
    svg = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "width": str(layout.width),
            "height": str(layout.height),
            "viewBox": f"0 0 {layout.width} {layout.height}",
            "font-family": "Helvetica, Arial, sans-serif",
            "font-size": "12",
        },
    )
    defs = ET.SubElement(svg, "defs")
    pattern = ET.SubElement(
        defs,
        "pattern",
        {"id": "wait", "width": "6", "height": "6", "patternUnits": "userSpaceOnUse"},
    )
    ET.SubElement(pattern, "rect", {"width": "6", "height": "6", "fill": "#eeeeee"})
    ET.SubElement(pattern, "path", {"d": "M0,6 L6,0", "stroke": "#9e9e9e", "stroke-width": "1"})
    pattern = ET.SubElement(
        defs,
        "pattern",
        {"id": "retried", "width": "6", "height": "6", "patternUnits": "userSpaceOnUse"},
    )
    ET.SubElement(pattern, "rect", {"width": "6", "height": "6", "fill": OUTCOME_COLOURS["failed"]})
    ET.SubElement(pattern, "path", {"d": "M0,0 L6,6", "stroke": "#e57373", "stroke-width": "1.5"})
    return svg


def _axis(svg: ET.Element, layout: _Layout) -> None:
    """The time axis under the rows, with a grid line per tick."""
    span, axis_y = layout.span, layout.axis_y
    step = _tick_step(span)
    grid = ET.SubElement(svg, "g", {"class": "axis"})
    tick = 0.0
    while span > 0 and tick <= span + 1e-9:
        x = layout.x_of(layout.origin + tick)
        ET.SubElement(
            grid,
            "line",
            {
                "x1": str(x),
                "x2": str(x),
                "y1": str(layout.top - 4),
                "y2": str(axis_y),
                "stroke": "#e0e0e0",
            },
        )
        label = ET.SubElement(
            grid, "text", {"x": str(x), "y": str(axis_y + 14), "text-anchor": "middle"}
        )
        label.text = _fmt(tick)
        tick += step


def _row(bars: ET.Element, job: AbstractJob, depth: int, y: float, layout: _Layout) -> None:
    """One job's row: its name, its wait for a slot, its attempts and its bar (or the
    tick of a skipped job)."""
    x_of, origin = layout.x_of, layout.origin
    job_record = record_of(job)
    row = ET.SubElement(
        bars, "g", {"class": "row", "data-job": job.repr_id(), "data-label": job.label}
    )
    text = ET.SubElement(row, "text", {"x": str(10 + 12 * depth), "y": str(y + 15)})
    one_line = " ".join(job.label.split())  # whatever the label holds
    name = one_line if len(one_line) <= 34 else one_line[:33] + "\u2026"
    text.text = f"{job.repr_id()} {name}"
    outcome = job_record.outcome
    started, scheduled, ended = (
        job_record.started_at,
        job_record.scheduled_at,
        job_record.ended_at,
    )
    # a wait shorter than half a pixel is the event loop's own latency: not drawn
    if scheduled is not None and started is not None and x_of(started) - x_of(scheduled) >= 0.5:
        wait = ET.SubElement(
            row,
            "rect",
            {
                "class": "wait",
                "data-job": job.repr_id(),
                "x": str(x_of(scheduled)),
                "y": str(y + 7),
                "width": str(round(x_of(started) - x_of(scheduled), 2)),
                "height": "8",
                "fill": "url(#wait)",
            },
        )
        tip = ET.SubElement(wait, "title")
        tip.text = f"{job.label}: waited {_fmt(started - scheduled)} for a window slot"
    if started is not None:
        _bars(row, job, y, (started, ended if ended is not None else layout.end), layout)
    elif outcome == "skipped" and ended is not None:
        mark = ET.SubElement(
            row,
            "rect",
            {
                "class": "skipped",
                "data-job": job.repr_id(),
                "data-outcome": outcome,
                "x": str(x_of(ended) - 1),
                "y": str(y + 3),
                "width": "2",
                "height": "16",
                "fill": "#9e9e9e",
            },
        )
        tip = ET.SubElement(mark, "title")
        tip.text = f"{job.label}: skipped at {_fmt(ended - origin)}"


def _bars(
    row: ET.Element, job: AbstractJob, y: float, span: tuple[float, float], layout: _Layout
) -> None:
    """The bar of a job that ran (``span``: from its start to its end, or to the end of
    the chart), after one hatched segment per failed attempt that was retried (with a
    dotted line for each backoff)."""
    x_of, origin = layout.x_of, layout.origin
    started, stop = span
    job_record = record_of(job)
    outcome = job_record.outcome
    border = {
        "stroke": _BAR_STROKE.get(outcome, "#616161"),
        "stroke-width": "2.5" if job.critical else "0.75",
        **({"stroke-dasharray": "4,2"} if job.forever else {}),
    }
    log = job_record.attempt_log or []
    first = started
    total = job_record.attempts
    for number, attempt in enumerate(log[:-1], 1):  # the failed attempts, retried
        failed_at = attempt.ended_at if attempt.ended_at is not None else stop
        segment = ET.SubElement(
            row,
            "rect",
            {
                "class": "attempt",
                "data-job": job.repr_id(),
                "data-attempt": str(number),
                "data-outcome": "failed",
                "x": str(x_of(attempt.started_at)),
                "y": str(y + 3),
                "width": str(max(x_of(failed_at) - x_of(attempt.started_at), 1.0)),
                "height": "16",
                "rx": "3",
                "fill": "url(#retried)",
                **border,
                "stroke": _BAR_STROKE["failed"],
            },
        )
        tip = ET.SubElement(segment, "title")
        tip.text = (
            f"{job.label}: attempt {number} of {total} failed, from "
            f"{_fmt(attempt.started_at - origin)} to {_fmt(failed_at - origin)} "
            f"({_fmt(failed_at - attempt.started_at)}): "
            f"{_exception_text(attempt.exception)}"
        )
        following = log[number].started_at
        backoff = ET.SubElement(
            row,
            "line",
            {
                "class": "backoff",
                "data-job": job.repr_id(),
                "x1": str(x_of(failed_at)),
                "x2": str(x_of(following)),
                "y1": str(y + 11),
                "y2": str(y + 11),
                "stroke": "#616161",
                "stroke-width": "1",
                "stroke-dasharray": "2,2",
            },
        )
        tip = ET.SubElement(backoff, "title")
        tip.text = f"{job.label}: waited {_fmt(following - failed_at)} before retrying"
    if len(log) > 1:
        started = log[-1].started_at  # the last attempt's segment
    bar = ET.SubElement(
        row,
        "rect",
        {
            "class": "bar",
            "data-job": job.repr_id(),
            "data-outcome": outcome,
            **({"data-attempt": str(total)} if len(log) > 1 else {}),
            "x": str(x_of(started)),
            "y": str(y + 3),
            "width": str(max(x_of(stop) - x_of(started), 1.0)),
            "height": "16",
            "rx": "0" if isinstance(job, Scheduler) else "3",
            "fill": OUTCOME_COLOURS.get(outcome, "#ffffff"),
            **border,
        },
    )
    tip = ET.SubElement(bar, "title")
    tip.text = (
        f"{job.label}: {outcome}"
        + (f" on attempt {total} of {total}" if len(log) > 1 else "")
        + f", from {_fmt(started - origin)} to {_fmt(stop - origin)} "
        f"({_fmt(stop - started)})"
        + (
            f", {_fmt(stop - first)} since the first attempt"
            if len(log) > 1
            else (f", {total} attempts" if total > 1 else "")
        )
        + (f", on {job_record.worker}" if job_record.worker else "")
        + (f": {_exception_text(job_record.exception)}" if outcome == "failed" else "")
    )


def _left_out_note(drawn: int, total: int, left_out: list[tuple[AbstractJob, int]]) -> str:
    outcomes = collections.Counter(record_of(job).outcome for job, _ in left_out)
    how = ", ".join(f"{count} {outcome}" for outcome, count in outcomes.most_common())
    return (
        f"Only the first {drawn} of {total} rows are drawn: {len(left_out)} left out "
        f"({how}); timeline_svg(max_jobs=None) draws them all."
    )


def _legend(svg: ET.Element, legend_y: float) -> None:
    legend = ET.SubElement(svg, "g", {"class": "legend"})

    def entry(x: float, y: float, text: str, **shape: str) -> None:
        ET.SubElement(
            legend,
            "rect",
            {"x": str(x), "y": str(y - 10), "width": "14", "height": "12", **shape},
        )
        label = ET.SubElement(legend, "text", {"x": str(x + 18), "y": str(y)})
        label.text = text

    x = 10
    for outcome in ("ok", "failed", "cancelled", "skipped", "running"):
        entry(x, legend_y, outcome, fill=OUTCOME_COLOURS[outcome], stroke="#616161")
        x += 90
    entry(x, legend_y, "waiting for a window slot", fill="url(#wait)")
    second = legend_y + 20
    border = {"fill": "#ffffff", "stroke": "#616161"}
    entry(10, second, "critical job (thick border)", **border, **{"stroke-width": "2.5"})
    entry(210, second, "non-critical job", **border, **{"stroke-width": "0.75"})
    entry(350, second, "forever job (dashed)", **border, **{"stroke-dasharray": "4,2"})
    entry(520, second, "failed attempt, then retried", fill="url(#retried)", stroke="#616161")


def export_timeline_svg(
    scheduler: Scheduler,
    path: str | os.PathLike[str],
    *,
    max_jobs: int | None = TIMELINE_MAX_JOBS,
) -> Path:
    """Write the Gantt chart of :func:`timeline_svg` as an SVG file.

    Args:
        scheduler: the scheduler whose run to draw.
        path: the file to (over)write.
        max_jobs: as for :func:`timeline_svg`.

    Returns:
        The path written, as a :class:`~pathlib.Path`.

    Raises:
        JobDefinitionError: ``path`` is not a str or path-like.
        InvalidOptionError: ``path`` is empty, or ``max_jobs`` is not a positive int
            or None.
    """
    target = checked_path("export_timeline_svg", path)
    max_jobs = _checked_max("export_timeline_svg", max_jobs)
    target.write_text(timeline_svg(scheduler, max_jobs=max_jobs), encoding="utf-8")
    return target
