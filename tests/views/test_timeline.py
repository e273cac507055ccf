"""The Gantt chart of a run: an SVG parsed back with xml.etree, bar by bar."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import anyio
import pytest

import jobgraph as jg
from jobgraph.views import _dot, _timeline

pytestmark = pytest.mark.anyio

SVG = "{http://www.w3.org/2000/svg}"


async def value(x: Any, delay: float = 0.0) -> Any:
    await anyio.sleep(delay)
    return x


async def boom(delay: float = 0.0) -> None:
    await anyio.sleep(delay)
    raise ValueError("boom")


async def forever() -> None:
    await anyio.sleep_forever()


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def shapes(root: ET.Element, kind: str) -> dict[str, dict[str, str]]:
    """The rects of one class, by job number."""
    return {
        rect.attrib["data-job"]: rect.attrib
        for rect in root.iter(f"{SVG}rect")
        if rect.attrib.get("class") == kind
    }


def span(attributes: dict[str, str]) -> tuple[float, float]:
    x = float(attributes["x"])
    return x, x + float(attributes["width"])


@pytest.mark.timing
async def test_timeline_bars_follow_the_run(mock_clock: bool) -> None:
    a = jg.Job(value, 1, 0.1, label="a")
    b = jg.Job(value, 2, 0.2, label="b")
    c = jg.Job(value, 3, 0.1, label="c")
    scheduler = jg.Scheduler(a, b, c, jobs_window=1, label="windowed")
    assert await scheduler.run()
    root = parse(scheduler.timeline_svg())
    bars = shapes(root, "bar")
    waits = shapes(root, "wait")
    assert set(bars) == {"1", "2", "3"}
    assert {bar["data-outcome"] for bar in bars.values()} == {"ok"}
    assert all(bar["fill"] == _dot.OUTCOME_COLOURS["ok"] for bar in bars.values())
    # one at a time: each bar starts where the previous one ends
    (a0, a1), (b0, b1), (c0, c1) = (span(bars[n]) for n in "123")
    assert a0 < a1 <= b0 + 1 < b1 <= c0 + 1 < c1
    # the second and third jobs waited for the window, from the start of the run
    assert set(waits) == {"2", "3"}
    assert span(waits["2"])[1] == pytest.approx(b0, abs=0.5)
    assert span(waits["3"])[1] == pytest.approx(c0, abs=0.5)
    if mock_clock:  # exact times: 0.4 s over the chart's width
        scale = _timeline._CHART_WIDTH / 4
        left = _timeline._LABEL_WIDTH
        assert span(bars["1"]) == (left, left + scale)
        assert span(bars["2"]) == (left + scale, left + 3 * scale)
        assert span(waits["3"]) == (left, left + 3 * scale)
        ticks = [
            text.text for text in root.iter(f"{SVG}text") if text.text and text.text[-1] == "s"
        ]
        assert ticks[:5] == ["0s", "0.1s", "0.2s", "0.3s", "0.4s"]


@pytest.mark.timing
async def test_timeline_colours_outcomes() -> None:
    ok = jg.Job(value, 1, 0.2, label="ok")
    bad = jg.Job(boom, 0.1, label="bad", critical=False)
    skipped = jg.Job(value, 2, label="skipped", requires=bad, on_failed_requirement="skip")
    daemon = jg.Job(forever, label="daemon", forever=True)
    scheduler = jg.Scheduler(ok, bad, skipped, daemon)
    assert await scheduler.run()
    root = parse(scheduler.timeline_svg())
    bars = shapes(root, "bar")
    outcomes = {bar["data-outcome"]: number for number, bar in bars.items()}
    assert set(outcomes) == {"ok", "failed", "cancelled"}
    assert bars[outcomes["failed"]]["fill"] == _dot.OUTCOME_COLOURS["failed"]
    # the forever job was cancelled at the end: its bar reaches the end of the run
    cancelled = span(bars[outcomes["cancelled"]])
    assert cancelled[1] >= max(span(bar)[1] for bar in bars.values()) - 0.01
    assert bars[outcomes["cancelled"]]["stroke-dasharray"]
    marks = shapes(root, "skipped")
    assert [mark["data-outcome"] for mark in marks.values()] == ["skipped"]


async def test_timeline_has_no_bar_for_jobs_that_never_ran() -> None:
    bad = jg.Job(boom, label="bad")
    never = jg.Job(value, 1, label="never", requires=bad)
    scheduler = jg.Scheduler(bad, never)
    assert not await scheduler.run()
    root = parse(scheduler.timeline_svg())
    assert set(shapes(root, "bar")) == {"1"}
    rows = [g.attrib["data-label"] for g in root.iter(f"{SVG}g") if g.get("class") == "row"]
    assert rows == ["bad", "never"]


async def test_timeline_shows_nested_schedulers_and_their_jobs() -> None:
    inner = jg.Scheduler(jg.Job(value, 1, 0.01, label="inner-job"), label="inner")
    scheduler = jg.Scheduler(jg.Job(value, 0, label="first"), inner)
    assert await scheduler.run()
    root = parse(scheduler.timeline_svg())
    rows = [g.attrib["data-label"] for g in root.iter(f"{SVG}g") if g.get("class") == "row"]
    assert rows == ["first", "inner", "inner-job"]
    bars = shapes(root, "bar")
    nested, nested_job = span(bars["2"]), span(bars["3"])
    assert nested[0] <= nested_job[0] and nested_job[1] <= nested[1] + 0.01
    titles = [title.text or "" for title in root.iter(f"{SVG}title")]
    assert any(title.startswith("inner-job: ok, from ") for title in titles)


def test_timeline_before_a_run_has_rows_and_no_bars(tmp_path: Path) -> None:
    scheduler = jg.Scheduler(jg.Job(value, 1, label="a <&> b"), label="idle")
    path = scheduler.export_timeline_svg(tmp_path / "timeline.svg")
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    assert shapes(root, "bar") == {}
    texts = [text.text for text in root.iter(f"{SVG}text")]
    assert "1 a <&> b" in texts  # escaped in the file, intact once parsed
    assert "idle: scheduler 'idle' has not run" in texts
