"""A Gantt chart of a scheduler's last run, written as SVG with the standard library.

One row per job (nested schedulers and their jobs included, in listing order). A bar
runs from the job's start to its end, filled with the colour of its outcome (the
colours of :data:`jobgraph.views._dot.OUTCOME_COLOURS`); a hatched grey bar before it shows
the time the job waited for a slot in its scheduler's window (from ``scheduled_at``
to ``started_at``; waits shorter than half a pixel are left out). A job still running,
or cut off without an end time, reaches the end of the run. Skipped jobs get a grey
tick where they were skipped; jobs that never ran have no bar. Every bar carries
``data-job``, ``data-outcome`` and a tooltip.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from jobgraph import AbstractJob, CycleError, Scheduler

from ._dot import OUTCOME_COLOURS
from ._listing import _number_any
from ._paths import checked_path

__all__ = ["export_timeline_svg", "timeline_svg"]

SVG_NS = "http://www.w3.org/2000/svg"
_LABEL_WIDTH = 260
_CHART_WIDTH = 640
_ROW = 22
_TOP = 40
_BOTTOM = 60
_BAR_STROKE = {"failed": "#c62828", "cancelled": "#ef6c00"}


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


def timeline_svg(scheduler: Scheduler) -> str:
    """The SVG text of the Gantt chart of the scheduler's last run.

    Before any run, the chart has the rows and no bars.
    """
    _number_any(scheduler)
    rows = _rows(scheduler)
    record = scheduler.record
    times = [
        moment
        for job, _ in rows
        for moment in (job.record.scheduled_at, job.record.started_at, job.record.ended_at)
        if moment is not None
    ]
    origin = record.started_at if record.started_at is not None else min(times, default=0.0)
    end_candidates = [*times, origin]
    if record.ended_at is not None:
        end_candidates.append(record.ended_at)
    end = max(end_candidates)
    span = end - origin
    scale = _CHART_WIDTH / span if span > 0 else 0.0

    def x_of(moment: float) -> float:
        return round(_LABEL_WIDTH + (moment - origin) * scale, 2)

    height = _TOP + _ROW * len(rows) + _BOTTOM
    width = _LABEL_WIDTH + _CHART_WIDTH + 20
    ET.register_namespace("", SVG_NS)
    svg = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "width": str(width),
            "height": str(height),
            "viewBox": f"0 0 {width} {height}",
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
    title = ET.SubElement(svg, "text", {"x": "10", "y": "20", "font-weight": "bold"})
    title.text = f"{scheduler.label}: {scheduler.why()}"

    # time axis and grid
    axis_y = _TOP + _ROW * len(rows) + 6
    step = _tick_step(span)
    grid = ET.SubElement(svg, "g", {"class": "axis"})
    tick = 0.0
    while span > 0 and tick <= span + 1e-9:
        x = x_of(origin + tick)
        ET.SubElement(
            grid,
            "line",
            {
                "x1": str(x),
                "x2": str(x),
                "y1": str(_TOP - 4),
                "y2": str(axis_y),
                "stroke": "#e0e0e0",
            },
        )
        label = ET.SubElement(
            grid, "text", {"x": str(x), "y": str(axis_y + 14), "text-anchor": "middle"}
        )
        label.text = _fmt(tick)
        tick += step

    bars = ET.SubElement(svg, "g", {"class": "jobs"})
    for index, (job, depth) in enumerate(rows):
        job_record = job.record
        y = _TOP + index * _ROW
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
            stop = ended if ended is not None else end
            bar = ET.SubElement(
                row,
                "rect",
                {
                    "class": "bar",
                    "data-job": job.repr_id(),
                    "data-outcome": outcome,
                    "x": str(x_of(started)),
                    "y": str(y + 3),
                    "width": str(max(x_of(stop) - x_of(started), 1.0)),
                    "height": "16",
                    "rx": "0" if isinstance(job, Scheduler) else "3",
                    "fill": OUTCOME_COLOURS.get(outcome, "#ffffff"),
                    "stroke": _BAR_STROKE.get(outcome, "#616161"),
                    "stroke-width": "2" if job.critical else "0.75",
                    **({"stroke-dasharray": "4,2"} if job.forever else {}),
                },
            )
            tip = ET.SubElement(bar, "title")
            tip.text = (
                f"{job.label}: {outcome}, from {_fmt(started - origin)} "
                f"to {_fmt(stop - origin)} ({_fmt(stop - started)})"
                + (f", {job_record.attempts} attempts" if job_record.attempts > 1 else "")
                + (f", on {job_record.worker}" if job_record.worker else "")
            )
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

    # legend
    legend = ET.SubElement(svg, "g", {"class": "legend"})
    x = 10
    legend_y = axis_y + 30
    for outcome in ("ok", "failed", "cancelled", "skipped", "running"):
        ET.SubElement(
            legend,
            "rect",
            {
                "x": str(x),
                "y": str(legend_y - 10),
                "width": "14",
                "height": "12",
                "fill": OUTCOME_COLOURS[outcome],
                "stroke": "#616161",
            },
        )
        entry = ET.SubElement(legend, "text", {"x": str(x + 18), "y": str(legend_y)})
        entry.text = outcome
        x += 90
    ET.SubElement(
        legend,
        "rect",
        {"x": str(x), "y": str(legend_y - 8), "width": "14", "height": "8", "fill": "url(#wait)"},
    )
    entry = ET.SubElement(legend, "text", {"x": str(x + 18), "y": str(legend_y)})
    entry.text = "waiting for a window slot"
    return ET.tostring(svg, encoding="unicode", xml_declaration=True) + "\n"


def export_timeline_svg(scheduler: Scheduler, path: str | os.PathLike[str]) -> Path:
    """Write the Gantt chart of :func:`timeline_svg` as an SVG file.

    Returns:
        The path written, as a :class:`~pathlib.Path`.

    Raises:
        JobDefinitionError: ``path`` is not a str or path-like.
        InvalidOptionError: ``path`` is empty.
    """
    target = checked_path("export_timeline_svg", path)
    target.write_text(timeline_svg(scheduler), encoding="utf-8")
    return target
