"""The examples of the asynciojobs README, run through jobgraph.compat.asynciojobs.

Each test builds the example's jobs as the README does (only the import differs) and
checks what the README shows: the order of the messages, ``run()``'s return value,
results, and the ``list()`` listings character for character. Durations are the
README's, except the window example (0.1s jobs rather than 0.5s).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from jobgraph.compat.asynciojobs import Job, Scheduler, Sequence, Watch

watch = Watch(show_elapsed=False)


async def in_out(timeout: float) -> float:  # noqa: ASYNC109 - the README's signature
    watch.print_elapsed(f"-> in_out({timeout})\n")
    await asyncio.sleep(timeout)
    watch.print_elapsed(f"<- in_out({timeout})\n")
    return 1000 * timeout


async def in_out_bus(timeout: float, bus: asyncio.Queue[str]) -> float:  # noqa: ASYNC109
    await bus.put(f"{watch.elapsed()} -> in_out({timeout})")
    await asyncio.sleep(timeout)
    await bus.put(f"{watch.elapsed()} <- in_out({timeout})")
    return 10 * timeout


async def monitor_loop(bus: asyncio.Queue[str]) -> None:
    while True:
        message = await bus.get()
        print(f"BUS: {message}")


async def boom(n: float) -> None:
    await asyncio.sleep(n)
    raise Exception(f"boom after {n}s")


async def aprint(message: str, delay: float = 0.5) -> None:
    print(message)
    await asyncio.sleep(delay)


def messages(out: str) -> list[str]:
    """The printed lines without their ``SSS.mmm`` timestamps."""
    return [line.split(" ", 1)[1] if line[:3].isdigit() else line for line in out.splitlines()]


def listing(scheduler: Scheduler, capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    scheduler.list()
    return capsys.readouterr().out.splitlines()


def test_watch_prints_elapsed_time(capsys: pytest.CaptureFixture[str]) -> None:
    local = Watch()
    time.sleep(0.05)
    local.print_elapsed("some")
    first, second = capsys.readouterr().out.splitlines(keepends=True)
    assert first == "000.000  \n"
    assert second.startswith("000.0") and second.endswith(" some")


def test_example_a_runs_jobs_in_parallel(capsys: pytest.CaptureFixture[str]) -> None:
    a1, a2, a3 = Job(in_out(0.1)), Job(in_out(0.2)), Job(in_out(0.25))
    watch.reset()
    sa = Scheduler(a1, a2, a3)
    assert repr(sa) == "Scheduler with 0 done + 0 ongoing + 3 idle = 3 job(s)"
    assert sa.run() is True
    assert messages(capsys.readouterr().out) == [
        "-> in_out(0.1)",
        "-> in_out(0.2)",
        "-> in_out(0.25)",
        "<- in_out(0.1)",
        "<- in_out(0.2)",
        "<- in_out(0.25)",
    ]
    assert watch.seconds() < 0.5  # in parallel, not 0.55s in a row
    assert a1.result() == 100.0


def test_example_a_other_style_builds_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    sa2 = Scheduler()
    a1, a2 = Job(in_out(0.1), scheduler=sa2), Job(in_out(0.2), scheduler=sa2)
    a3 = Job(in_out(0.25))
    assert sa2.add(a3) is a3
    assert repr(sa2) == "Scheduler with 0 done + 0 ongoing + 3 idle = 3 job(s)"
    watch.reset()
    assert sa2.run() is True
    assert messages(capsys.readouterr().out)[3:] == [
        "<- in_out(0.1)",
        "<- in_out(0.2)",
        "<- in_out(0.25)",
    ]
    assert (a1.result(), a2.result(), a3.result()) == (100.0, 200.0, 250.0)


B_LISTING = [
    "1 ⚠ ☉ ☓   <Job `b1`> [[ -> 100.0]] ",
    "2 ⚠ ☉ ☓   <Job `b2`> [[ -> 200.0]] requires={1}",
    "3 ⚠ ☉ ☓   <Job `Job[in_out (...)]`> [[ -> 250.0]] ",
]
B_MESSAGES = [
    "-> in_out(0.1)",
    "-> in_out(0.25)",
    "<- in_out(0.1)",
    "-> in_out(0.2)",
    "<- in_out(0.25)",
    "<- in_out(0.2)",
]


def test_example_b_requirements_and_listing(capsys: pytest.CaptureFixture[str]) -> None:
    b1, b2, b3 = (
        Job(in_out(0.1), label="b1"),
        Job(in_out(0.2), label="b2"),
        Job(in_out(0.25)),
    )
    b2.requires(b1)
    watch.reset()
    sb = Scheduler(b1, b2, b3)
    assert sb.run() is True
    assert messages(capsys.readouterr().out) == B_MESSAGES
    assert b1.is_done() is True
    assert b3.raised_exception() is None
    assert listing(sb, capsys) == B_LISTING


def test_example_b_prime_sequence_and_dot_export(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb2 = Scheduler(
        Sequence(Job(in_out(0.1), label="bp1"), Job(in_out(0.2), label="bp2")),
        Job(in_out(0.25)),
    )
    watch.reset()
    assert sb2.run() is True
    assert messages(capsys.readouterr().out) == B_MESSAGES
    monkeypatch.chdir(tmp_path)
    assert sb2.export_as_dotfile("readme-example-b.dot") == "(Over)wrote readme-example-b.dot"
    dot = (tmp_path / "readme-example-b.dot").read_text()
    assert dot.startswith("digraph") and "bp1" in dot and "bp2" in dot
    if shutil.which("dot"):
        done = subprocess.run(
            ["dot", "-Tpng", "readme-example-b.dot", "-o", "readme-example-b.png"], check=False
        )
        assert done.returncode == 0 and (tmp_path / "readme-example-b.png").stat().st_size > 0


def test_example_c_forever_monitor_on_a_message_bus(capsys: pytest.CaptureFixture[str]) -> None:
    message_bus: asyncio.Queue[str] = asyncio.Queue()
    c1, c2, c3, c4 = (
        Job(in_out_bus(0.2, message_bus), label="c1"),
        Job(in_out_bus(0.4, message_bus), label="c2"),
        Job(in_out_bus(0.3, message_bus), label="c3"),
        Job(monitor_loop(message_bus), forever=True, label="monitor"),
    )
    c3.requires(c1)
    watch.reset()
    sc = Scheduler(c1, c2, c3, c4)
    assert sc.run() is True
    bus = [line.split(" ", 2)[2] for line in capsys.readouterr().out.splitlines()]
    assert bus == [
        "-> in_out(0.2)",
        "-> in_out(0.4)",
        "<- in_out(0.2)",
        "-> in_out(0.3)",
        "<- in_out(0.4)",
        "<- in_out(0.3)",
    ]
    assert listing(sc, capsys) == [
        "1 ⚠ ☉ ☓   <Job `c1`> [[ -> 2.0]] ",
        "2 ⚠ ☉ ☓   <Job `c2`> [[ -> 4.0]] ",
        "3 ⚠ ☉ ☓   <Job `c3`> [[ -> 3.0]] requires={1}",
        "4 ⚠ ☉ ↺ ∞ <Job `monitor`> [not done] ",
    ]


async def forever() -> None:
    for i in range(100000):
        print(f"{watch.elapsed()}: forever {i}")
        await asyncio.sleep(0.1)


def test_example_d_global_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    j = Job(forever(), forever=True)
    watch.reset()
    sd = Scheduler(j, timeout=0.25, critical=False)
    assert sd.run() is False
    lines = capsys.readouterr().out.splitlines()
    ticks = [line.split(": ", 1)[1] for line in lines[:-1]]
    # ticks at 0.0, 0.1 and 0.2s before the 0.25s timeout; a loaded machine may be late
    # for the third one, never early for a fourth
    assert ticks in (["forever 0", "forever 1", "forever 2"], ["forever 0", "forever 1"])
    assert lines[-1].endswith("SCHEDULER 0D + 1R + 0I = 1: PureScheduler.co_run: TIMEOUT occurred")
    assert repr(j) == "⚠ ☉ ↺ ∞ <Job `Job[forever (...)]`> [not done] "


def test_example_e_non_critical_jobs(capsys: pytest.CaptureFixture[str]) -> None:
    e1 = Job(in_out(0.2), label="begin")
    e2 = Job(boom(0.2), label="boom", critical=False)
    e3 = Job(in_out(0.3), label="end")
    se = Scheduler(Sequence(e1, e2, e3), critical=False)
    watch.reset()
    assert se.run() is True
    assert messages(capsys.readouterr().out) == [
        "-> in_out(0.2)",
        "<- in_out(0.2)",
        "-> in_out(0.3)",
        "<- in_out(0.3)",
    ]
    assert listing(se, capsys) == [
        "1 ⚠ ☉ ☓   <Job `begin`> [[ -> 200.0]] ",
        "2   ★ ☓   <Job `boom`> !! exception => Exception:boom after 0.2s!! requires={1}",
        "3 ⚠ ☉ ☓   <Job `end`> [[ -> 300.0]] requires={2}",
    ]


def test_example_f_critical_jobs(capsys: pytest.CaptureFixture[str]) -> None:
    f1 = Job(in_out(0.2), label="begin")
    f2 = Job(boom(0.2), label="boom", critical=True)
    f3 = Job(in_out(0.3), label="end")
    sf = Scheduler(Sequence(f1, f2, f3), critical=False)
    watch.reset()
    assert sf.run() is False
    lines = capsys.readouterr().out.splitlines()
    assert messages("\n".join(lines[:2])) == ["-> in_out(0.2)", "<- in_out(0.2)"]
    assert lines[2].endswith("Emergency exit upon exception in critical job")
    assert len(lines) == 3
    assert listing(sf, capsys) == [
        "1 ⚠ ☉ ☓   <Job `begin`> [[ -> 200.0]] ",
        "2 ⚠ ★ ☓   <Job `boom`> !! CRIT. EXC. => Exception:boom after 0.2s!! requires={1}",
        "3 ⚠   ⚐   <Job `end`> [not done] requires={2}",
    ]
    assert sf.failed_critical() and not sf.failed_time_out()


def test_window_limits_simultaneous_jobs(capsys: pytest.CaptureFixture[str]) -> None:
    s = Scheduler(jobs_window=4)
    for i in range(1, 9):
        s.add(Job(aprint(f"{watch.elapsed()} {i}-th job", 0.1)))
    watch.reset()
    assert s.run() is True
    elapsed = watch.seconds()
    assert [line.split(" ", 1)[1] for line in capsys.readouterr().out.splitlines()] == [
        f"{i}-th job" for i in range(1, 9)
    ]
    assert 0.2 <= elapsed < 0.6  # two rounds of 0.1s (test_api checks the exact peak)


def make_nested() -> tuple[Scheduler, Scheduler]:
    sub_sched = Scheduler(label="critical nested", critical=True)
    subj1 = Job(aprint("subj1", 0.05), label="subj1", scheduler=sub_sched)
    subj2 = Job(aprint("subj2", 0.05), label="subj2", required=subj1, scheduler=sub_sched)
    subj3 = Job(aprint("subj3", 0.05), label="subj3", required=subj1, scheduler=sub_sched)
    Job(aprint("subj4", 0.05), label="subj4", required=(subj2, subj3), scheduler=sub_sched)
    main_sched = Scheduler(
        Sequence(
            Job(aprint("main-start", 0.05), label="main-start"),
            sub_sched,
            Job(aprint("main-end", 0.05), label="main-end"),
        )
    )
    return sub_sched, main_sched


NESTED_LISTING = [
    "1 ⚠   ⚐   <Job `main-start`> [not done] ",
    "2 ⚠   ⚐   <Scheduler `critical nested`> [not done] requires={1} -> entries={3}",
    "3 ⚠   ⚐   > <Job `subj1`> [not done] ",
    "4 ⚠   ⚐   > <Job `subj2`> [not done] requires={3}",
    "5 ⚠   ⚐   > <Job `subj3`> [not done] requires={3}",
    "6 ⚠   ⚐   > <Job `subj4`> [not done] requires={4, 5}",
    "2 --end-- < <Scheduler `critical nested`> exits={6}",
    "7 ⚠   ⚐   <Job `main-end`> [not done] requires={2}",
]


def test_nesting_listing_before_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    _, main_sched = make_nested()
    assert listing(main_sched, capsys) == NESTED_LISTING
    main_sched.close_all_jobs()


def test_nesting_runs_inner_scheduler_as_a_job(capsys: pytest.CaptureFixture[str]) -> None:
    sub_sched, main_sched = make_nested()
    assert main_sched.run() is True
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["main-start", "subj1"]
    assert sorted(out[2:4]) == ["subj2", "subj3"]
    assert out[4:] == ["subj4", "main-end"]
    assert sub_sched.result() is True


def test_nesting_dot_draws_the_inner_scheduler_as_a_cluster(tmp_path: Path) -> None:
    sub_sched, main_sched = make_nested()
    target = tmp_path / "readme-nested.dot"
    assert main_sched.export_as_dotfile(str(target)) == f"(Over)wrote {target}"
    dot = target.read_text()
    assert "subgraph" in dot and "cluster_2" in dot and "critical nested" in dot
    assert sub_sched.dot_cluster_name() == "cluster_2"
    main_sched.close_all_jobs()


def test_graph_section_styles_jobs(tmp_path: Path) -> None:
    s = Scheduler()
    j1 = Job(aprint("j1"), label="init", critical=False, scheduler=s)
    j2 = Job(aprint("j2"), label="critical job", critical=True, scheduler=s, required=j1)
    j3 = Job(
        aprint("j3"), label="forever job", critical=False, forever=True, scheduler=s, required=j1
    )
    assert s.export_as_dotfile(str(tmp_path / "d.dot")).startswith("(Over)wrote")
    styles: dict[str, Any] = {job.label: job.dot_style() for job in (j1, j2, j3)}
    assert styles["critical job"]["color"] == "red"
    assert "dashed" in styles["forever job"]["style"]
    assert "rounded" in styles["init"]["style"] and styles["init"].get("color") != "red"
    s.close_all_jobs()


def test_check_cycles_sanitize_debrief(capsys: pytest.CaptureFixture[str]) -> None:
    f1 = Job(in_out(0.01), label="begin")
    f2 = Job(boom(0.01), label="boom")
    sf = Scheduler(Sequence(f1, f2), critical=False)
    assert sf.check_cycles() is True
    assert sf.sanitize() is True
    assert sf.run() is False
    capsys.readouterr()
    sf.debrief()
    out = capsys.readouterr().out
    assert out.startswith("----- a CRITICAL job has raised an exception")
    assert "2 ⚠ ★ ☓   <Job `boom`> !! CRIT. EXC. => Exception:boom after 0.01s!!" in out
    assert "1 job(s) with an exception, including 1 critical" in out
    assert "Exception: boom after 0.01s" in out
    sf.debrief(silence_done_jobs=True)
    assert "<Job `begin`>" not in capsys.readouterr().out
