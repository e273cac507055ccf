"""Text views: list(), list_safe(), stats(), repr, debrief() and the JSON run report."""

from __future__ import annotations

import io
import itertools
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import anyio
import pytest

import jobgraph as jg

pytestmark = pytest.mark.anyio


async def value(x: Any, delay: float = 0.0) -> Any:
    await anyio.sleep(delay)
    return x


async def boom(message: str = "boom") -> None:
    await anyio.sleep(0.001)
    raise ValueError(message)


async def forever() -> None:
    await anyio.sleep_forever()


def nested_example() -> jg.Scheduler:
    """The shape of the nested example of the asynciojobs README."""
    start = jg.Job(value, 1, label="main-start")
    s1 = jg.Job(value, 1, label="subj1")
    s2 = jg.Job(value, 2, label="subj2", requires=s1)
    s3 = jg.Job(value, 3, label="subj3", requires=s1)
    s4 = jg.Job(value, 4, label="subj4", requires=[s2, s3])
    nested = jg.Scheduler(s1, s2, s3, s4, label="critical nested", requires=start)
    end = jg.Job(value, 5, label="main-end", requires=nested)
    return jg.Scheduler(start, nested, end)


def test_listing_of_nested_scheduler_matches_spec_shape() -> None:
    text = nested_example().list_text(ascii=False)
    assert text == (
        "1 ⚠   ⚐   <Job `main-start`> [not done] \n"
        "2 ⚠   ⚐   <Scheduler `critical nested`> [not done] requires={1} -> entries={3}\n"
        "3 ⚠   ⚐   > <Job `subj1`> [not done] \n"
        "4 ⚠   ⚐   > <Job `subj2`> [not done] requires={3}\n"
        "5 ⚠   ⚐   > <Job `subj3`> [not done] requires={3}\n"
        "6 ⚠   ⚐   > <Job `subj4`> [not done] requires={4, 5}\n"
        "2 --end-- < <Scheduler `critical nested`> exits={6}\n"
        "7 ⚠   ⚐   <Job `main-end`> [not done] requires={2}\n"
    )


def test_listing_prints_what_list_text_returns(capsys: pytest.CaptureFixture[str]) -> None:
    scheduler = nested_example()
    scheduler.list()
    assert capsys.readouterr().out == scheduler.list_text()


async def test_listing_after_run_shows_results_and_exceptions() -> None:
    b1 = jg.Job(value, 100.0, label="b1")
    b2 = jg.Job(boom, "boom after 0.2s", label="boom", critical=False, requires=b1)
    b3 = jg.Job(value, 300.0, label="end", requires=b2)
    scheduler = jg.Scheduler(b1, b2, b3)
    assert await scheduler.run()
    assert scheduler.list_text(ascii=False) == (
        "1 ⚠ ☉ ☓   <Job `b1`> [[ -> 100.0]] \n"
        "2   ★ ☓   <Job `boom`> !! exception => ValueError:boom after 0.2s!! requires={1}\n"
        "3 ⚠ ☉ ☓   <Job `end`> [[ -> 300.0]] requires={2}\n"
    )


async def test_listing_after_critical_failure_shows_jobs_never_run() -> None:
    b1 = jg.Job(value, 200.0, label="begin")
    b2 = jg.Job(boom, "boom after 0.2s", label="boom", requires=b1)
    b3 = jg.Job(value, 300.0, label="end", requires=b2)
    scheduler = jg.Scheduler(b1, b2, b3)
    assert not await scheduler.run()
    lines = scheduler.list_text(ascii=False).splitlines()
    assert lines[1] == (
        "2 ⚠ ★ ☓   <Job `boom`> !! CRIT. EXC. => ValueError:boom after 0.2s!! requires={1}"
    )
    assert lines[2] == "3 ⚠   ⚐   <Job `end`> [not done] requires={2}"


async def test_forever_job_shows_cancelled_after_run() -> None:
    done = jg.Job(value, 1, label="c1")
    monitor = jg.Job(forever, label="monitor", forever=True)
    scheduler = jg.Scheduler(done, monitor)
    assert await scheduler.run()
    assert scheduler.list_text(ascii=False).splitlines()[1] == (
        "2 ⚠ ☉ ↺ ∞ <Job `monitor`> [cancelled] "
    )


async def test_skipped_job_shows_its_own_symbol() -> None:
    bad = jg.Job(boom, label="bad", critical=False)
    after = jg.Job(value, 1, label="after", requires=bad, on_failed_requirement="skip")
    scheduler = jg.Scheduler(bad, after)
    assert await scheduler.run()
    assert scheduler.list_text(ascii=False).splitlines()[1] == (
        "2 ⚠   ⊘   <Job `after`> [skipped] requires={1}"
    )
    assert scheduler.list_text(ascii=True).splitlines()[1] == (
        "2 !    -   <Job `after`> [skipped] requires={1}"
    )


async def test_ascii_listing_uses_spec_fallback_symbols() -> None:
    ok = jg.Job(value, 1, label="ok")
    bad = jg.Job(boom, label="bad", critical=False)
    waiting = jg.Job(forever, label="daemon", forever=True, critical=False)
    scheduler = jg.Scheduler(ok, bad, waiting)
    assert scheduler.list_text(ascii=True).splitlines()[0] == "1 !    >   <Job `ok`> [not done] "
    assert await scheduler.run()
    assert scheduler.list_text(ascii=True) == (
        "1 ! :) x   <Job `ok`> [[ -> 1]] \n"
        "2   :( x   <Job `bad`> !! exception => ValueError:boom!! \n"
        "3   :) o 8 <Job `daemon`> [cancelled] \n"
    )


def test_listing_falls_back_to_ascii_when_stdout_cannot_encode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scheduler = jg.Scheduler(jg.Job(value, 1, label="x"))
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="ascii"))
    assert scheduler.list_text() == "1 !    >   <Job `x`> [not done] \n"
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    assert scheduler.list_text() == "1 ⚠   ⚐   <Job `x`> [not done] \n"


def test_listing_numbers_are_zero_padded_beyond_nine_jobs() -> None:
    jobs = [jg.Job(value, i, label=f"j{i}") for i in range(12)]
    for before, after in itertools.pairwise(jobs):
        after.requires(before)
    lines = jg.Scheduler(*jobs).list_text(ascii=False).splitlines()
    assert [line.split()[0] for line in lines] == [f"{i:02d}" for i in range(1, 13)]
    assert lines[-1].endswith("requires={11}")


def test_listing_shows_labels_on_one_line() -> None:
    job = jg.Job(value, 1, label="two\nlines")
    assert "<Job `two lines`>" in jg.Scheduler(job).list_text()


async def test_listing_details_show_what_job_kinds_provide() -> None:
    class Shell(jg.AbstractJob):
        def __init__(self, command: str, **options: Any) -> None:
            super().__init__(**options)
            self.command = command

        async def run(self) -> str:
            return self.command

        def details(self) -> str | None:
            return f"$ {self.command}"

    scheduler = jg.Scheduler(Shell("ls -l", label="ls"), jg.Job(value, 1, label="plain"))
    text = scheduler.list_text(details=True, ascii=False)
    assert text.splitlines()[1] == "$ ls -l"
    assert "$ ls -l" not in scheduler.list_text(ascii=False)


async def test_listing_silences_done_jobs_on_request() -> None:
    ok = jg.Job(value, 1, label="ok")
    bad = jg.Job(boom, label="bad")
    never = jg.Job(value, 2, label="never", requires=bad)
    scheduler = jg.Scheduler(ok, bad, never)
    assert not await scheduler.run()
    labels = [
        line.split("`")[1] for line in scheduler.list_text(silence_done_jobs=True).splitlines()
    ]
    assert labels == ["never"]


def test_list_refuses_cycles_but_list_safe_shows_them() -> None:
    a = jg.Job(value, 1, label="a")
    b = jg.Job(value, 2, label="b", requires=a)
    a.requires(b)
    inner = jg.Scheduler(jg.Job(value, 3, label="inner-job"), label="inner")
    scheduler = jg.Scheduler(a, b, inner)
    with pytest.raises(jg.CycleError):
        scheduler.list_text()
    assert scheduler.list_safe_text(ascii=False) == (
        "⚠   ⚐   1 <Job `a`> requires={2}\n"
        "⚠   ⚐   2 <Job `b`> requires={1}\n"
        "⚠   ⚐   3 <Scheduler `inner`> \n"
        "⚠   ⚐   3.1 <Job `inner-job`> \n"
        "--end-- 3\n"
    )


def test_list_safe_prints_what_list_safe_text_returns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    scheduler = nested_example()
    scheduler.list_safe()
    assert capsys.readouterr().out == scheduler.list_safe_text()


async def test_stats_and_repr_count_jobs_by_state() -> None:
    ok = jg.Job(value, 1, label="ok")
    bad = jg.Job(boom, label="bad")
    never = jg.Job(value, 2, label="never", requires=bad)
    scheduler = jg.Scheduler(ok, bad, never)
    assert scheduler.stats() == "0D + 0R + 3I = 3"
    assert repr(scheduler) == "Scheduler with 0 done + 0 ongoing + 3 idle = 3 job(s)"
    assert not await scheduler.run()
    assert scheduler.stats() == "2D + 0R + 1I = 3"
    assert repr(scheduler) == "Scheduler with 2 done + 0 ongoing + 1 idle = 3 job(s)"


async def test_stats_count_running_jobs_while_the_run_goes_on() -> None:
    gate = anyio.Event()
    seen: list[str] = []

    async def watcher(scheduler: jg.Scheduler) -> None:
        await anyio.sleep(0.01)
        seen.append(scheduler.stats())
        gate.set()

    async def blocked() -> None:
        await gate.wait()

    scheduler = jg.Scheduler(label="live")
    scheduler.add(jg.Job(blocked, label="blocked"))
    scheduler.add(jg.Job(watcher, scheduler, label="watcher"))
    scheduler.add(jg.Job(value, 1, label="later", requires=scheduler.jobs[0]))
    assert await scheduler.run()
    assert seen == ["0D + 2R + 1I = 3"]


async def test_debrief_explains_failure_with_tracebacks() -> None:
    ok = jg.Job(value, 1, label="ok")
    minor = jg.Job(boom, "minor trouble", label="minor", critical=False)
    fatal = jg.Job(boom, "fatal trouble", label="fatal", requires=minor)
    scheduler = jg.Scheduler(ok, minor, fatal, label="pipeline")
    assert not await scheduler.run()
    text = scheduler.debrief_text(ascii=False)
    lines = text.splitlines()
    assert lines[0] == f"----- {scheduler.why()}"
    assert "fatal" in lines[0]
    assert lines[1] == "----- 3 job(s): 3 done, none running, none idle or scheduled"
    assert scheduler.list_text(ascii=False) in text
    assert "===== 2 job(s) with an exception, including 1 critical" in lines
    critical_at = text.index("----- CRITICAL job 3")
    minor_at = text.index("----- non-critical job 2")
    assert critical_at < minor_at  # critical ones first
    assert "    ValueError: fatal trouble" in lines
    assert "    ValueError: minor trouble" in lines
    assert any(line.strip().startswith("Traceback") for line in lines)


async def test_debrief_names_the_culprit_inside_nested_scheduler() -> None:
    inner_bad = jg.Job(boom, "deep", label="deep")
    nested = jg.Scheduler(inner_bad, label="nested")
    scheduler = jg.Scheduler(nested, label="top")
    assert not await scheduler.run()
    text = scheduler.debrief_text(ascii=False)
    assert "===== 1 job(s) with an exception, including 1 critical" in text
    assert "----- CRITICAL job 2 ⚠ ★ ☓   <Job `deep`>" in text


def test_debrief_prints_what_debrief_text_returns(capsys: pytest.CaptureFixture[str]) -> None:
    scheduler = nested_example()
    scheduler.debrief()
    out = capsys.readouterr().out
    assert out == scheduler.debrief_text()
    assert "has not run" in out.splitlines()[0]


async def test_report_describes_every_job_of_the_run(tmp_path: Path) -> None:
    start = jg.Job(value, {"a": 1}, 0.01, label="start")
    bad = jg.Job(boom, "oops", label="bad", critical=False, requires=start)
    inner = jg.Scheduler(jg.Job(value, 2, label="inner-job"), label="inner", requires=start)
    skipped = jg.Job(value, 3, label="skipped", requires=bad, on_failed_requirement="skip")
    scheduler = jg.Scheduler(start, bad, inner, skipped, label="report", jobs_window=2)
    assert await scheduler.run()
    report = scheduler.report()
    assert json.loads(json.dumps(report)) == report  # JSON-ready as it is
    assert report["label"] == "report"
    assert report["ok"] is True
    assert report["jobs_window"] == 2
    assert report["counts"] == {"done": 4, "running": 0, "idle": 0, "total": 4}
    jobs = {job["label"]: job for job in report["jobs"]}
    assert [job["id"] for job in report["jobs"]] == ["1", "2", "3", "4", "5"]
    assert jobs["start"]["result"] == "{'a': 1}"
    assert jobs["start"]["outcome"] == "ok"
    assert jobs["start"]["attempts"] == 1
    assert 0 <= jobs["start"]["started_at"] <= jobs["start"]["ended_at"]
    assert jobs["bad"]["exception"]["type"] == "ValueError"
    assert jobs["bad"]["exception"]["message"] == "oops"
    assert jobs["bad"]["exception"]["traceback"][-1] == "ValueError: oops"
    assert jobs["bad"]["requires"] == [jobs["start"]["id"]]
    assert jobs["bad"]["result"] is None
    assert jobs["skipped"]["outcome"] == "skipped"
    assert jobs["skipped"]["started_at"] is None
    assert jobs["inner"]["scheduler"] is True
    assert jobs["inner-job"]["parent"] == jobs["inner"]["id"]
    path = scheduler.export_report(tmp_path / "run.json")
    assert json.loads(path.read_text(encoding="utf-8")) == report


@pytest.mark.timing
async def test_report_logs_each_attempt_of_a_retried_job(mock_clock: bool) -> None:
    tries: list[int] = []

    async def flaky() -> str:
        tries.append(1)
        await anyio.sleep(0.1)
        if len(tries) == 1:
            raise TimeoutError("slow mirror")
        return "fetched"

    job = jg.Job(flaky, label="fetch", retry=jg.Retry(attempts=2, backoff=0.5))
    plain = jg.Job(value, 1, label="plain")
    scheduler = jg.Scheduler(job, plain)
    assert await scheduler.run()
    report = scheduler.report()
    assert json.loads(json.dumps(report)) == report
    jobs = {entry["label"]: entry for entry in report["jobs"]}
    assert jobs["plain"]["attempt_log"] is None
    first, second = jobs["fetch"]["attempt_log"]
    assert first["exception"]["type"] == "TimeoutError"
    assert first["exception"]["message"] == "slow mirror"
    assert second["exception"] is None
    assert first["ended_at"] <= second["started_at"] <= second["ended_at"]
    assert second["ended_at"] == jobs["fetch"]["ended_at"]
    if mock_clock:
        assert [first["started_at"], first["ended_at"]] == pytest.approx([0.0, 0.1])
        assert [second["started_at"], second["ended_at"]] == pytest.approx([0.6, 0.7])


def test_report_before_a_run_has_no_outcome() -> None:
    report = nested_example().report()
    assert report["ok"] is None
    assert all(job["state"] == "idle" and job["started_at"] is None for job in report["jobs"])


@pytest.mark.timeout(60)
def test_listing_and_report_of_a_large_nested_graph() -> None:
    size = 20_000
    inner = [jg.Job(value, i, label=f"in{i}") for i in range(size)]
    nested = jg.Scheduler(*inner, label="inner")
    outer = [jg.Job(value, i, label=f"out{i}", requires=nested) for i in range(size)]
    scheduler = jg.Scheduler(nested, *outer)
    lines = scheduler.list_text(ascii=True).splitlines()
    assert len(lines) == 2 * size + 2
    assert lines[0].endswith(f"-> entries={{{', '.join(f'{i:05d}' for i in range(2, size + 2))}}}")
    assert lines[-1].endswith(f"requires={{{1:05d}}}")
    assert len(scheduler.report()["jobs"]) == 2 * size + 1


def reversed_insertion() -> jg.Scheduler:
    """Jobs added dependents first: insertion order is the reverse of the topological
    order, at the top and in a nested scheduler."""
    first = jg.Job(value, 1, label="first")
    second = jg.Job(value, 2, label="second", requires=first)
    inner_a = jg.Job(value, 3, label="inner a")
    inner_b = jg.Job(value, 4, label="inner b", requires=inner_a)
    nested = jg.Scheduler(inner_b, inner_a, label="nested", requires=second)
    last = jg.Job(value, 5, label="last", requires=nested)
    return jg.Scheduler(last, nested, second, first, label="backwards")


ORDER = ["first", "second", "nested", "inner a", "inner b", "last"]


def test_listing_follows_requirements_not_insertion_order() -> None:
    scheduler = reversed_insertion()
    assert scheduler.list_text(ascii=True) == (
        "1 !    >   <Job `first`> [not done] \n"
        "2 !    >   <Job `second`> [not done] requires={1}\n"
        "3 !    >   <Scheduler `nested`> [not done] requires={2} -> entries={4}\n"
        "4 !    >   > <Job `inner a`> [not done] \n"
        "5 !    >   > <Job `inner b`> [not done] requires={4}\n"
        "3 --end-- < <Scheduler `nested`> exits={5}\n"
        "6 !    >   <Job `last`> [not done] requires={3}\n"
    )
    # list_safe is the one listing in insertion order (it works on cycles)
    safe = scheduler.list_safe_text(ascii=True).splitlines()
    assert [line.split("`")[1] for line in safe if "`" in line] == [
        "last",
        "nested",
        "inner b",
        "inner a",
        "second",
        "first",
    ]


async def test_debrief_report_timeline_and_drawing_follow_requirements_too() -> None:
    scheduler = reversed_insertion()
    assert await scheduler.run()
    debrief = scheduler.debrief_text(ascii=True)
    assert [line.split("`")[1] for line in debrief.splitlines() if "<Job" in line] == [
        "first",
        "second",
        "inner a",
        "inner b",
        "last",
    ]
    report = scheduler.report()
    assert [job["label"] for job in report["jobs"]] == ORDER
    assert [job["id"] for job in report["jobs"]] == ["1", "2", "3", "4", "5", "6"]
    assert report["jobs"][1]["requires"] == ["1"]
    timeline = ET.fromstring(scheduler.timeline_svg())
    rows = [
        g.attrib["data-label"]
        for g in timeline.iter("{http://www.w3.org/2000/svg}g")
        if g.get("class") == "row"
    ]
    assert rows == ORDER
    dot = scheduler.dot_format()
    labels = [f'"{n}: {label}"' for n, label in enumerate(ORDER, 1) if label != "nested"]
    assert all(f"label={label}" in dot for label in labels)
    assert [dot.index(f"label={label}") for label in labels] == sorted(
        dot.index(f"label={label}") for label in labels
    )
