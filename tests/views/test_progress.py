"""The live progress view: plain lines off a terminal, a rich panel on one, a summary
table at the end, and nothing at all when it is not asked for."""

from __future__ import annotations

import io
import re
from typing import Any

import anyio
import pytest
from rich.console import Console

import jobgraph as jg

pytestmark = pytest.mark.anyio


async def value(x: Any, delay: float = 0.0) -> Any:
    await anyio.sleep(delay)
    return x


async def boom(message: str = "boom") -> None:
    await anyio.sleep(0.001)
    raise ValueError(message)


def console(*, terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=120, color_system=None), out


async def test_plain_lines_when_output_is_not_a_terminal() -> None:
    ok = jg.Job(value, 1, label="fetch")
    bad = jg.Job(boom, "no route", label="upload", critical=False, requires=ok)
    scheduler = jg.Scheduler(ok, bad, label="pipeline")
    screen, out = console(terminal=False)
    progress = jg.Progress(scheduler, console=screen)
    assert not progress.live
    with progress:
        assert await scheduler.run()
    lines = out.getvalue().splitlines()
    words = [line.split()[1:3] for line in lines if line.strip().endswith("of 2]")]
    assert words == [
        ["started", "fetch"],
        ["done", "fetch"],
        ["started", "upload"],
        ["FAILED", "upload"],
    ]
    failed = next(line for line in lines if "FAILED" in line)
    assert "ValueError: no route" in failed
    assert failed.endswith("[1 ok, 1 failed of 2]")
    assert progress.failures == [(bad, bad.exception)]
    assert lines[-1] == "scheduler 'pipeline' succeeded, 1 non-critical job failed: 'upload'"


async def test_summary_table_counts_outcomes_and_jobs_never_run() -> None:
    first = jg.Job(value, 1, 0.01, label="first")
    fatal = jg.Job(boom, label="fatal", requires=first)
    never = jg.Job(value, 2, label="never", requires=fatal)
    scheduler = jg.Scheduler(first, fatal, never, label="doomed")
    screen, out = console(terminal=False)
    with jg.Progress(scheduler, console=screen):
        assert not await scheduler.run()
    text = out.getvalue()
    table = text[text.index("doomed") : text.rindex("1 ok, 1 failed, 1 idle of 3")]
    cells = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in table.splitlines()
        if line[:1] == "│"
    ]
    assert {row[0]: row[1] for row in cells} == {"ok": "1", "failed": "1", "never ran": "1"}
    assert re.search(r"first \(\d+\.\d\ds\)", table)  # the longest ok job, timed
    assert "critical job 'fatal'" in text.splitlines()[-1]


async def test_live_panel_on_a_terminal_reports_failures_as_they_happen() -> None:
    async def slow() -> int:
        await anyio.sleep(0.01)
        assert progress._panel is not None
        progress._panel.refresh()  # a frame drawn while this job runs, whatever the load
        return 1

    ok = jg.Job(slow, label="slow")
    bad = jg.Job(boom, "disk full", label="writer", critical=False)
    scheduler = jg.Scheduler(ok, bad, label="live")
    screen, out = console(terminal=True)
    progress = jg.Progress(scheduler, console=screen, refresh_per_second=50)
    assert progress.live
    with progress:
        assert await scheduler.run()
    text = out.getvalue()
    assert "✗ job writer failed: ValueError: disk full" in text
    assert re.search(r"↺ slow +\d+\.\ds", text)  # the running job, with its elapsed time
    assert "1 ok, 1 failed of 2" in text.splitlines()[-2]  # the summary's caption
    assert "started" not in text  # no plain lines on a terminal


async def test_counts_follow_the_run_and_skip_nested_schedulers() -> None:
    seen: list[dict[str, int]] = []
    progress: jg.Progress

    async def look() -> None:
        await anyio.sleep(0.01)
        seen.append({k: v for k, v in progress.counts.items() if v})

    inner = jg.Scheduler(jg.Job(look, label="look"), label="inner")
    waiting = jg.Job(value, 1, label="after", requires=inner)
    scheduler = jg.Scheduler(inner, waiting)
    screen, _ = console(terminal=False)
    progress = jg.Progress(scheduler, console=screen, summary=False)
    with progress:
        assert await scheduler.run()
    assert seen == [{"running": 1, "idle": 1}]
    assert {k: v for k, v in progress.counts.items() if v} == {"ok": 2}


async def test_retries_are_reported() -> None:
    attempts = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 2:
            raise OSError("try again")
        return "fine"

    job = jg.Job(flaky, label="flaky", retry=jg.Retry(attempts=3))
    scheduler = jg.Scheduler(job)
    screen, out = console(terminal=False)
    with jg.Progress(scheduler, console=screen):
        assert await scheduler.run()
    retry_line = next(line for line in out.getvalue().splitlines() if "retrying" in line)
    assert "flaky  attempt 1 failed (OSError: try again), retrying in 0s" in retry_line


async def test_progress_unsubscribes_when_the_block_ends() -> None:
    scheduler = jg.Scheduler(jg.Job(value, 1, label="only"))
    screen, out = console(terminal=False)
    with jg.Progress(scheduler, console=screen, summary=False):
        pass
    assert scheduler._subscribers == ()
    assert await scheduler.run()
    assert out.getvalue() == ""


def test_sync_run_shows_progress_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    scheduler = jg.Scheduler(jg.Job(value, 1, label="quiet"), label="sync")
    assert jg.run(scheduler)
    assert capsys.readouterr().out == ""  # off by default: not a character
    scheduler = jg.Scheduler(jg.Job(value, 1, label="loud"), label="sync")
    assert jg.run(scheduler, backend="trio", progress=True)
    out = capsys.readouterr().out
    assert "started    loud" in out
    assert "1 ok of 1" in out.splitlines()[-2]
    assert out.splitlines()[-1] == "scheduler 'sync' succeeded"


@pytest.mark.timing
async def test_plain_lines_and_summary_use_the_event_loop_clock(mock_clock: bool) -> None:
    first = jg.Job(value, 1, 0.2, label="first")
    second = jg.Job(value, 2, 0.1, label="second", requires=first)
    scheduler = jg.Scheduler(first, second, label="timed")
    screen, out = console(terminal=False)
    with jg.Progress(scheduler, console=screen):
        assert await scheduler.run()
    lines = out.getvalue().splitlines()
    done = next(line for line in lines if "done       second" in line)
    assert float(done.split("s")[0]) >= 0.29
    if mock_clock:
        assert done.startswith("    0.30s  done       second")
        assert any("│ ok      │    2 │     0.30s │ first (0.20s) │" in line for line in lines)


def test_live_panel_lists_running_jobs_longest_first() -> None:
    scheduler = jg.Scheduler(*(jg.Job(value, i, label=f"job{i}") for i in range(15)))
    screen, out = console(terminal=True)
    progress = jg.Progress(scheduler, console=screen, live=True, summary=False)
    with progress:
        for number, job in enumerate(scheduler.jobs):
            progress(jg.JobEvent(jg.EventKind.STARTED, job, scheduler, float(number)))
        screen.print(progress._render())
    text = out.getvalue()
    assert "15 running" in text
    assert "↺ job0 " in text and "↺ job11 " in text
    assert "↺ job12 " not in text
    assert "… and 3 more" in text


def frame(progress: jg.Progress) -> str:
    """The live panel as it would be drawn now, as text."""
    screen, out = console(terminal=False)
    screen.print(progress._render())
    return out.getvalue()


async def test_live_panel_shows_a_bar_the_percentage_done_and_an_eta() -> None:
    frames: list[str] = []

    async def step(number: int) -> int:
        await anyio.sleep(0.01)
        frames.append(frame(progress))
        return number

    jobs: list[jg.Job] = []
    for number in range(4):
        jobs.append(jg.Job(step, number, label=f"step {number}", requires=jobs[-1:]))
    scheduler = jg.Scheduler(*jobs, label="steps")
    screen, _ = console(terminal=True)
    progress = jg.Progress(scheduler, console=screen, refresh_per_second=50)
    with progress:
        assert await scheduler.run()
    bars = [line for text in frames for line in text.splitlines() if "done" in line]
    assert len(bars) == 4
    # the bar of 30 cells, the share, the count and the time left at the pace so far
    assert re.search(r"^steps  [\d.]+s  ░{30}   0%  0/4 done  ETA --$", bars[0])
    assert re.search(r"^steps  [\d.]+s  █{15}░{15}  50%  2/4 done  ETA [\d.]+s$", bars[2])
    assert re.search(r"^steps  [\d.]+s  █{22}░{8}  75%  3/4 done  ETA [\d.]+s$", bars[3])
    assert progress.bar_text() == "█" * 30 + " 100%  4/4 done"  # no ETA once done
    assert progress.fraction_done() == (4, 4)
    assert progress.eta() == 0.0


async def test_the_bar_counts_skipped_jobs_as_done_and_leaves_forever_jobs_out() -> None:
    async def monitor() -> None:
        await anyio.sleep_forever()

    bad = jg.Job(boom, label="bad", critical=False)
    skipped = [
        jg.Job(value, n, label=f"skipped {n}", requires=bad, on_failed_requirement="skip")
        for n in range(3)
    ]
    last = jg.Job(value, 0, 0.05, label="last", requires=skipped, on_failed_requirement="run")
    seen: list[tuple[int, int]] = []

    async def watch() -> None:
        await anyio.sleep(0.02)
        seen.append(progress.fraction_done())

    watcher = jg.Job(watch, label="watch")
    scheduler = jg.Scheduler(
        bad, *skipped, last, watcher, jg.Job(monitor, label="monitor", forever=True)
    )
    screen, _ = console(terminal=False)
    progress = jg.Progress(scheduler, console=screen, summary=False)
    with progress:
        assert await scheduler.run()
    assert seen == [(4, 6)]  # bad and the 3 skipped jobs are done; the forever job is not counted
    assert progress.counts["skipped"] == 3
    assert "skipped" in progress.stats()
    assert progress.fraction_done() == (6, 6)


async def test_counts_are_right_from_the_start_of_a_large_flat_run() -> None:
    """200k jobs take the same path: every job is counted before the first starts, also
    when the view is subscribed directly rather than used as a ``with`` block."""
    size = 3000
    first_frames: list[tuple[dict[str, int], str]] = []

    async def quick(number: int) -> int:
        if not first_frames:
            counts = {state: n for state, n in progress.counts.items() if n}
            first_frames.append((counts, progress.bar_text()))
        await anyio.lowlevel.checkpoint()
        return number

    scheduler = jg.Scheduler(*(jg.Job(quick, n) for n in range(size)), jobs_window=10)
    screen, _ = console(terminal=False)
    progress = jg.Progress(scheduler, console=screen, live=True, summary=False)
    unsubscribe = scheduler.subscribe(progress)  # no with block
    try:
        assert await scheduler.run()
    finally:
        unsubscribe()
    [(counts, bar)] = first_frames
    assert counts == {"running": 1, "scheduled": size - 1}
    assert bar.endswith(f"  0%  0/{size} done  ETA --")
    assert progress.counts["ok"] == size
    assert progress.stats() == f"{size} ok of {size}"


async def test_a_second_run_starts_the_counts_afresh() -> None:
    bad = jg.Job(boom, label="flaky", critical=False)
    scheduler = jg.Scheduler(bad, jg.Job(value, 1, label="fine"))
    screen, _ = console(terminal=False)
    progress = jg.Progress(scheduler, console=screen, summary=False)
    with progress:
        assert await scheduler.run()
        assert progress.stats() == "1 ok, 1 failed of 2"
        scheduler.reset()
        seen: list[str] = []
        unsubscribe = scheduler.subscribe(lambda event: seen.append(progress.stats()))
        assert await scheduler.run()
        unsubscribe()
    assert seen[0] == "2 idle of 2"  # the run started: nothing from the first run is left
    assert progress.stats() == "1 ok, 1 failed of 2"
    assert len(progress.failures) == 1  # this run's failure only


async def test_plain_lines_report_skipped_jobs() -> None:
    bad = jg.Job(boom, label="bad", critical=False)
    after = jg.Job(value, 1, label="after", requires=bad, on_failed_requirement="skip")
    scheduler = jg.Scheduler(bad, after, label="skips")
    screen, out = console(terminal=False)
    with jg.Progress(scheduler, console=screen):
        assert await scheduler.run()
    lines = out.getvalue().splitlines()
    skipped = next(line for line in lines if line.split()[1:3] == ["skipped", "after"])
    assert skipped.endswith("[1 failed, 1 skipped of 2]")
    assert any(line.startswith("│ skipped ") and "│    1 │" in line for line in lines)


async def test_the_bar_the_counts_and_the_summary_count_the_same_jobs() -> None:
    """20 finite jobs and a forever one: the bar said 4/20 done beside counts of 21
    (the forever job running among them) and the summary said "of 21"."""

    async def monitor() -> None:
        await anyio.sleep_forever()

    jobs = [jg.Job(value, n, 0.005, label=f"step {n}") for n in range(20)]
    scheduler = jg.Scheduler(
        *jobs, jg.Job(monitor, label="monitor", forever=True), jobs_window=4, label="run"
    )
    screen, out = console(terminal=True)
    progress = jg.Progress(scheduler, console=screen, refresh_per_second=50)
    frames: list[tuple[int, int, int, str, str]] = []

    def snapshot(event: jg.JobEvent) -> None:
        if event.kind is jg.EventKind.FINISHED:
            done, total = progress.fraction_done()
            counted = sum(progress.counts.values())
            frames.append((done, total, counted, progress.bar_text(), progress.stats()))

    with progress:
        unsubscribe = scheduler.subscribe(snapshot)
        assert await scheduler.run()
        unsubscribe()
    assert len(frames) == 20
    for done, total, counted, bar, stats in frames:
        assert total == counted == 20
        assert f"{done}/20 done" in bar
        assert stats.startswith(f"{done} ok")
        assert stats.endswith(" of 20 (+1 forever: 1 running)")
    assert progress.stats() == "20 ok of 20 (+1 forever: 1 cancelled)"
    summary = out.getvalue()[out.getvalue().rindex("outcome") :]
    assert re.search(r"ok +│ +20 │", summary)
    assert re.search(r"forever +│ +1 │", summary)
    caption = summary.splitlines()[-2]  # it counts the rows above the forever one
    assert caption.strip() == "20 ok of 20"
