"""The Gantt chart of a run: an SVG parsed back with xml.etree, bar by bar."""

from __future__ import annotations

import inspect
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
    assert {"2", "3"} <= set(waits)  # (on a loaded machine, the first job may wait too)
    assert span(waits["2"])[1] == pytest.approx(b0, abs=0.5)
    assert span(waits["3"])[1] == pytest.approx(c0, abs=0.5)
    if mock_clock:  # exact times: 0.4 s over the chart's width
        assert set(waits) == {"2", "3"}
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


def titles_of(element: ET.Element) -> str:
    title = element.find(f"{SVG}title")
    assert title is not None and title.text is not None
    return title.text


@pytest.mark.timing
async def test_a_timeline_drawn_during_the_run_extends_running_jobs_to_now(
    mock_clock: bool,
) -> None:
    drawn: list[str] = []

    async def draw_midway() -> None:
        await anyio.sleep(0.5)
        drawn.append(scheduler.timeline_svg())

    slow = jg.Job(value, 1, 1.0, label="slow")
    early = jg.Job(value, 2, 0.1, label="early")
    drawer = jg.Job(draw_midway, label="drawer")
    scheduler = jg.Scheduler(slow, early, drawer, label="mid")
    assert await scheduler.run()
    root = parse(drawn[0])
    bars = shapes(root, "bar")
    right = _timeline._LABEL_WIDTH + _timeline._CHART_WIDTH
    # the running jobs reach now, the right edge of the chart; the ended one stops short
    assert span(bars[slow.repr_id()])[1] == pytest.approx(right, abs=0.01)
    assert span(bars[drawer.repr_id()])[1] == pytest.approx(right, abs=0.01)
    assert span(bars[early.repr_id()])[1] < right - 100  # ended long before now
    assert bars[slow.repr_id()]["data-outcome"] == "running"
    if mock_clock:
        assert span(bars[early.repr_id()]) == pytest.approx(
            (_timeline._LABEL_WIDTH, _timeline._LABEL_WIDTH + _timeline._CHART_WIDTH / 5)
        )
        assert "slow: running, from 0s to 0.5s (0.5s)" in titles_of_all(root)
    # once the run is over, the bars end where the jobs ended
    after = shapes(parse(scheduler.timeline_svg()), "bar")
    assert span(after[slow.repr_id()])[1] == pytest.approx(right, abs=1)  # the run's end
    assert span(after[drawer.repr_id()])[1] < right - 100


def titles_of_all(root: ET.Element) -> list[str]:
    return [title.text or "" for title in root.iter(f"{SVG}title")]


@pytest.mark.timing
async def test_retried_attempts_are_separate_segments_with_their_exceptions(
    mock_clock: bool,
) -> None:
    tries: list[int] = []

    async def flaky() -> str:
        tries.append(1)
        await anyio.sleep(0.1)
        if len(tries) < 3:
            raise ConnectionError(f"refused #{len(tries)}")
        return "up"

    job = jg.Job(flaky, label="connect", retry=jg.Retry(attempts=3, backoff=0.2, factor=1.0))
    scheduler = jg.Scheduler(job, jg.Job(value, 0, 1.0, label="other"))
    assert await scheduler.run()
    log = job.record.attempt_log
    assert log is not None and len(log) == 3
    assert [type(attempt.exception) for attempt in log] == [ConnectionError] * 2 + [type(None)]
    root = parse(scheduler.timeline_svg())
    number = job.repr_id()
    attempts = [
        rect.attrib
        for rect in root.iter(f"{SVG}rect")
        if rect.get("class") == "attempt" and rect.get("data-job") == number
    ]
    assert [a["data-attempt"] for a in attempts] == ["1", "2"]
    assert all(a["data-outcome"] == "failed" for a in attempts)
    last = shapes(root, "bar")[number]
    assert last["data-attempt"] == "3" and last["data-outcome"] == "ok"
    # three segments in order, with gaps (the backoff) between them
    (a0, a1), (b0, b1), (c0, c1) = span(attempts[0]), span(attempts[1]), span(last)
    assert a0 < a1 < b0 < b1 < c0 < c1
    backoffs = [
        line.attrib
        for line in root.iter(f"{SVG}line")
        if line.get("class") == "backoff" and line.get("data-job") == number
    ]
    assert [(float(b["x1"]), float(b["x2"])) for b in backoffs] == [(a1, b0), (b1, c0)]
    titles = titles_of_all(root)
    assert any(t.startswith("connect: attempt 1 of 3 failed") and "refused #1" in t for t in titles)
    assert any(t.startswith("connect: attempt 2 of 3 failed") and "refused #2" in t for t in titles)
    assert any(t.startswith("connect: ok on attempt 3 of 3, from ") for t in titles)
    if mock_clock:  # 0.1 s tries, 0.2 s waits, over 1 s
        scale = _timeline._CHART_WIDTH / 1.0
        left = _timeline._LABEL_WIDTH
        assert (a0, a1, b0, b1, c0, c1) == pytest.approx(
            [left + t * scale for t in (0, 0.1, 0.3, 0.4, 0.6, 0.7)]
        )
        assert "connect: attempt 1 of 3 failed, from 0s to 0.1s (0.1s): " in " ".join(titles)


async def test_failure_tooltips_carry_the_exception() -> None:
    async def fails() -> None:
        raise PermissionError("no write access to /srv\nsecond line")

    bad = jg.Job(fails, label="write", critical=False)
    scheduler = jg.Scheduler(bad, label="perms")
    assert await scheduler.run()
    bar = next(
        rect
        for rect in parse(scheduler.timeline_svg()).iter(f"{SVG}rect")
        if rect.get("class") == "bar"
    )
    assert titles_of(bar).endswith(": PermissionError: no write access to /srv second line")


async def test_legend_explains_the_borders() -> None:
    scheduler = jg.Scheduler(jg.Job(value, 1, label="one"))
    assert await scheduler.run()
    root = parse(scheduler.timeline_svg())
    legend = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "legend")
    texts = [text.text for text in legend.iter(f"{SVG}text")]
    shapes_by_text = dict(zip(texts, legend.iter(f"{SVG}rect"), strict=True))
    assert shapes_by_text["critical job (thick border)"].get("stroke-width") == "2.5"
    assert shapes_by_text["non-critical job"].get("stroke-width") == "0.75"
    assert shapes_by_text["forever job (dashed)"].get("stroke-dasharray") == "4,2"
    assert shapes_by_text["failed attempt, then retried"].get("fill") == "url(#retried)"
    # the bars use the same borders as the legend
    critical = jg.Job(value, 1, label="crit", critical=True)
    calm = jg.Job(value, 1, label="calm", critical=False)
    scheduler = jg.Scheduler(critical, calm)
    assert await scheduler.run()
    bars = shapes(parse(scheduler.timeline_svg()), "bar")
    assert bars[critical.repr_id()]["stroke-width"] == "2.5"
    assert bars[calm.repr_id()]["stroke-width"] == "0.75"


def test_huge_runs_are_cut_with_a_note_of_what_was_left_out() -> None:
    async def fails() -> None:
        raise ValueError("late failure")

    jobs = [jg.Job(value, n, label=f"job {n}", critical=False) for n in range(60)]
    jobs.append(jg.Job(fails, label="last", critical=False))
    scheduler = jg.Scheduler(*jobs, jobs_window=5)
    assert jg.run(scheduler)
    svg = scheduler.timeline_svg(max_jobs=25)
    root = parse(svg)
    rows = [g for g in root.iter(f"{SVG}g") if g.get("class") == "row"]
    assert len(rows) == 25
    notes = [text.text for text in root.iter(f"{SVG}text") if text.get("class") == "note"]
    expected = (
        "Only the first 25 of 61 rows are drawn: 36 left out (35 ok, 1 failed); "
        "timeline_svg(max_jobs=None) draws them all."
    )
    assert notes == [expected, expected]  # above the rows and below them
    everything = parse(scheduler.timeline_svg(max_jobs=None))
    assert len([g for g in everything.iter(f"{SVG}g") if g.get("class") == "row"]) == 61
    assert not [text for text in everything.iter(f"{SVG}text") if text.get("class") == "note"]
    # the default cap keeps a large run's picture small, the same through the methods
    assert _timeline.TIMELINE_MAX_JOBS == 1000
    for method in (jg.Scheduler.timeline_svg, jg.Scheduler.export_timeline_svg):
        default = inspect.signature(method).parameters["max_jobs"].default
        assert default == _timeline.TIMELINE_MAX_JOBS
    big = jg.Scheduler(*(jg.Job(value, n) for n in range(1500)))
    assert jg.run(big)
    root = parse(big.timeline_svg())
    assert len([g for g in root.iter(f"{SVG}g") if g.get("class") == "row"]) == 1000
    assert "500 left out (500 ok)" in big.timeline_svg()


@pytest.mark.parametrize("bad", [0, -3, 2.5, "10", True])
def test_max_jobs_must_be_a_positive_int_or_none(bad: Any, tmp_path: Path) -> None:
    scheduler = jg.Scheduler(jg.Job(value, 1))
    with pytest.raises(jg.InvalidOptionError, match=r"timeline_svg\(\): max_jobs must be"):
        scheduler.timeline_svg(max_jobs=bad)
    with pytest.raises(jg.InvalidOptionError, match=r"export_timeline_svg\(\): max_jobs"):
        scheduler.export_timeline_svg(tmp_path / "t.svg", max_jobs=bad)
    assert not (tmp_path / "t.svg").exists()


@pytest.mark.timing
async def test_a_job_that_gives_up_shows_every_attempt_and_its_last_exception(
    mock_clock: bool,
) -> None:
    async def hangs() -> None:
        await anyio.sleep(10)

    async def down() -> None:
        await anyio.sleep(0.1)
        raise OSError("host down")

    slow = jg.Job(hangs, label="slow", critical=False, timeout=0.2, retry=jg.Retry(attempts=2))
    gone = jg.Job(down, label="gone", critical=False, retry=jg.Retry(attempts=3, backoff=0.1))
    plain = jg.Job(value, 1, 0.1, label="plain")
    scheduler = jg.Scheduler(slow, gone, plain)
    assert await scheduler.run()
    assert plain.record.attempt_log is None  # no retry policy: nothing logged
    slow_log = slow.record.attempt_log
    assert slow_log is not None
    assert [type(a.exception).__name__ for a in slow_log] == ["JobTimeoutError"] * 2
    root = parse(scheduler.timeline_svg())
    for job, tries, text in ((slow, 2, "JobTimeoutError"), (gone, 3, "OSError: host down")):
        number = job.repr_id()
        segments = [
            rect
            for rect in root.iter(f"{SVG}rect")
            if rect.get("data-job") == number and rect.get("class") in ("attempt", "bar")
        ]
        assert [rect.get("data-attempt") for rect in segments] == [
            str(n) for n in range(1, tries + 1)
        ]
        assert [rect.get("data-outcome") for rect in segments] == ["failed"] * tries
        last = titles_of(segments[-1])
        assert last.startswith(f"{job.label}: failed on attempt {tries} of {tries}, from ")
        assert text in last
    if mock_clock:
        times = [moment for a in slow_log for moment in (a.started_at, a.ended_at)]
        assert times == pytest.approx([0.0, 0.2, 0.2, 0.4])
