"""Views that single-line bugs used to break without any test noticing.

Each test was written against a bug planted in a view (a state left out, an order
dropped, a bar cut short) that the rest of the suite let through; its docstring names
the bug. The graphs here are built in the *reverse* of their order of execution, since
a view that falls back to insertion order looks right on graphs built in order.
"""

from __future__ import annotations

import io
import json
import re
import time
import xml.etree.ElementTree as ET
from typing import Any

import anyio
import pytest
from rich.console import Console

import jobgraph as jg

pytestmark = pytest.mark.anyio

SVG = "{http://www.w3.org/2000/svg}"


async def value(x: Any, delay: float = 0.0) -> Any:
    await anyio.sleep(delay)
    return x


async def boom(delay: float = 0.0) -> None:
    await anyio.sleep(delay)
    raise ValueError("boom")


def plain_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=120, color_system=None), out


def backwards() -> tuple[jg.Scheduler, list[str]]:
    """A scheduler whose jobs were added last-to-run first, with the labels in the
    order of execution (nested jobs after their scheduler)."""
    a = jg.Job(value, 1, label="a")
    b = jg.Job(value, 2, label="b", requires=a)
    c = jg.Job(value, 3, label="c", requires=b)
    x = jg.Job(value, 4, label="x")
    y = jg.Job(value, 5, label="y", requires=x)
    inner = jg.Scheduler(y, x, label="inner", requires=c)
    return jg.Scheduler(inner, c, b, a, label="top"), ["a", "b", "c", "inner", "x", "y"]


# -- progress ------------------------------------------------------------------------


async def test_progress_counts_skipped_jobs() -> None:
    """Bug: the live progress ignores skipped jobs (they stay 'idle' for ever)."""
    bad = jg.Job(boom, label="bad", critical=False)
    report = jg.Job(value, 1, label="report", requires=bad, on_failed_requirement="skip")
    mail = jg.Job(value, 2, label="mail", requires=report, on_failed_requirement="skip")
    scheduler = jg.Scheduler(mail, report, bad, label="skips")
    screen, out = plain_console()
    progress = jg.Progress(scheduler, console=screen)
    with progress:
        assert await scheduler.run()
    assert {k: v for k, v in progress.counts.items() if v} == {"failed": 1, "skipped": 2}
    assert progress.stats() == "1 failed, 2 skipped of 3"
    lines = out.getvalue().splitlines()
    assert [line.split()[1:3] for line in lines if line.strip().endswith("of 3]")] == [
        ["started", "bad"],
        ["FAILED", "bad"],
        ["skipped", "report"],
        ["skipped", "mail"],
    ]
    table = {
        cells[0]: cells[1]
        for line in lines
        if line[:1] == "│"
        for cells in [[cell.strip() for cell in line.split("│")[1:-1]]]
    }
    assert table == {"failed": "1", "skipped": "2"}


async def test_progress_counts_every_state_while_the_run_goes_on() -> None:
    """Bugs: a state left out of the progress counts (scheduled, running, skipped)."""
    seen: list[dict[str, int]] = []
    progress: jg.Progress

    async def look() -> None:
        await anyio.sleep(0.01)
        seen.append({k: v for k, v in progress.counts.items() if v})

    bad = jg.Job(boom, label="bad", critical=False)
    skipped = jg.Job(value, 0, label="skipped", requires=bad, on_failed_requirement="skip")
    watcher = jg.Job(look, label="watcher", requires=skipped)
    waiting = jg.Job(value, 1, label="waiting")  # a root: runs first, in the only slot
    scheduler = jg.Scheduler(watcher, waiting, skipped, bad, jobs_window=1)
    screen, _ = plain_console()
    progress = jg.Progress(scheduler, console=screen, summary=False)
    with progress:
        assert await scheduler.run()
    assert len(seen) == 1
    during = seen[0]
    assert during["running"] == 1 and during["failed"] == 1 and during["skipped"] == 1
    assert sum(during.values()) == 4
    assert {k: v for k, v in progress.counts.items() if v} == {"ok": 2, "failed": 1, "skipped": 1}


# -- timeline ------------------------------------------------------------------------


def bars(svg: str) -> dict[str, dict[str, str]]:
    return {
        row.attrib["data-label"]: rect.attrib
        for row in ET.fromstring(svg).iter(f"{SVG}g")
        if row.get("class") == "row"
        for rect in row.iter(f"{SVG}rect")
        if rect.get("class") == "bar"
    }


def right(bar: dict[str, str]) -> float:
    return float(bar["x"]) + float(bar["width"])


@pytest.mark.timing
async def test_timeline_drawn_mid_run_draws_running_jobs_to_the_latest_moment() -> None:
    """Bug: a timeline drawn mid-run cuts a running job's bar at its start."""
    drawn: list[str] = []
    scheduler: jg.Scheduler

    async def draw() -> None:
        await anyio.sleep(0.05)
        drawn.append(scheduler.timeline_svg())

    long = jg.Job(value, 0, 0.5, label="long")
    short = jg.Job(value, 1, 0.1, label="short")
    drawer = jg.Job(draw, label="drawer", requires=short)
    scheduler = jg.Scheduler(drawer, short, long, label="mid-run")
    assert await scheduler.run()
    (svg,) = drawn
    mid = bars(svg)
    assert set(mid) == {"long", "short", "drawer"}
    assert mid["long"]["data-outcome"] == "running"
    assert mid["short"]["data-outcome"] == "ok"
    # the long job still runs: its bar reaches at least as far as every other bar,
    # the finished one included
    assert right(mid["long"]) >= right(mid["short"]) - 0.01
    assert right(mid["long"]) > float(mid["long"]["x"]) + 100
    after = bars(scheduler.timeline_svg())
    assert after["long"]["data-outcome"] == "ok"
    assert right(after["long"]) == max(right(bar) for bar in after.values())


async def test_timeline_rows_follow_the_listing_order() -> None:
    """Bug: the timeline's rows in insertion order."""
    scheduler, order = backwards()
    assert await scheduler.run()
    rows = [
        row.attrib["data-label"]
        for row in ET.fromstring(scheduler.timeline_svg()).iter(f"{SVG}g")
        if row.get("class") == "row"
    ]
    assert rows == order


# -- listings, numbers, report and drawing -----------------------------------------


def listed_labels(text: str) -> list[str]:
    return [
        match.group(1)
        for line in text.splitlines()
        if "--end--" not in line
        for match in [re.search(r"<\w+ `([^`]*)`>", line)]
        if match
    ]


@pytest.mark.parametrize("ran", [False, True])
async def test_listing_is_in_topological_order_whatever_the_insertion_order(ran: bool) -> None:
    """Bugs: the listing, or the numbering, falls back to insertion order."""
    scheduler, order = backwards()
    if ran:
        assert await scheduler.run()
    text = scheduler.list_text(ascii=True)
    assert listed_labels(text) == order
    numbers = [line.split()[0] for line in text.splitlines() if "--end--" not in line]
    assert numbers == ["1", "2", "3", "4", "5", "6"]
    # requirements name the numbers of jobs listed before
    assert "<Job `b`> " in text.splitlines()[1] and text.splitlines()[1].endswith("requires={1}")
    by_label = {job.label: job for job in scheduler.iterate_jobs(scan_schedulers=True)}
    assert [by_label[label].repr_id() for label in order] == numbers


async def test_report_lists_jobs_in_topological_order() -> None:
    """Bug: the JSON report's jobs in insertion order."""
    scheduler, order = backwards()
    assert await scheduler.run()
    report = json.loads(json.dumps(scheduler.report()))
    assert [job["label"] for job in report["jobs"]] == order
    assert [job["id"] for job in report["jobs"]] == ["1", "2", "3", "4", "5", "6"]


def test_dot_declares_jobs_in_topological_order() -> None:
    """Bug: the DOT drawing declares its nodes in insertion order (graphviz places
    them in that order, so the drawing reads backwards)."""
    scheduler, order = backwards()
    dot = scheduler.dot_format()
    declared = re.findall(r'^"\d+" \[label="\d+: (\w+)"', dot, flags=re.MULTILINE)
    assert declared == [label for label in order if label != "inner"]
    assert dot.index('subgraph "cluster_4"') > dot.index('label="3: c"')


async def test_eta_is_the_time_per_job_done_times_the_jobs_left() -> None:
    """Bug: the ETA divided the elapsed time by the total instead of the jobs done: with
    one job of four done, it said a quarter of the time so far, not three times it."""
    seen: list[tuple[float, float, float]] = []  # (eta, least, most) after one job

    async def step(number: int) -> int:
        if number == 1:  # one job of four is done
            now = time.monotonic()
            estimate = progress.eta()
            assert estimate is not None
            seen.append((estimate, now - first_started[0], time.monotonic() - before))
        else:
            if number == 0:
                first_started.append(time.monotonic())
            await anyio.sleep(0.05)
        return number

    first_started: list[float] = []
    jobs: list[jg.Job] = []
    for number in range(4):
        jobs.append(jg.Job(step, number, label=f"step {number}", requires=jobs[-1:]))
    scheduler = jg.Scheduler(*jobs, label="steps")
    progress = jg.Progress(
        scheduler, console=Console(file=io.StringIO(), force_terminal=False), summary=False
    )
    before = time.monotonic()
    with progress:
        assert await scheduler.run()
    [(estimate, least, most)] = seen
    # the elapsed time lies between the first job's start and the progress's creation
    assert 3 * least <= estimate <= 3 * most
    assert progress.fraction_done() == (4, 4) and progress.eta() == 0.0
