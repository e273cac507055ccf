"""Views never turn a good run into an error: on an output that cannot encode a label
(``PYTHONIOENCODING=ascii``) they degrade characters, and a view that fails to write
is logged, not raised.

The printing views run in a subprocess whose stdout is ASCII-only, either a pipe or a
pseudo-terminal (where ``Progress`` draws its live panel)."""

from __future__ import annotations

import io
import logging
import os
import pty
import re
import select
import subprocess
import sys
import textwrap
import time
from typing import Any

import anyio
import pytest
from rich.console import Console

import jobgraph as jg

SETUP = """
import anyio, jobgraph as jg

async def work(x):
    await anyio.sleep(0.01)
    return x

async def fails():
    await anyio.sleep(0.01)
    raise ValueError("échec ✗")

first = jg.Job(work, "é", label="café")
second = jg.Job(work, 2, label="thé ✓ … ↺", requires=first)
bad = jg.Job(fails, label="crème", critical=False, requires=first)
after = jg.Job(work, 3, label="après", requires=bad, on_failed_requirement="skip")
scheduler = jg.Scheduler(first, second, bad, after, label="dîner")
"""

# each printing view, after the SETUP; the last line printed must be "OK"
VIEWS = {
    "list": "scheduler.list(details=True)\nscheduler.list_safe()\nprint('OK')",
    "list-after-run": (
        "assert jg.run(scheduler)\nscheduler.list()\nscheduler.list_safe()\nprint('OK')"
    ),
    "debrief": "assert jg.run(scheduler)\nscheduler.debrief(details=True)\nprint('OK')",
    "progress": "ok = jg.run(scheduler, progress=True)\nprint('OK' if ok is True else ok)",
    "progress-trio": (
        "ok = jg.run(scheduler, backend='trio', progress=True)\nprint('OK' if ok is True else ok)"
    ),
    "progress-critical-failure": (
        "bad.critical = True\n"
        "ok = jg.run(scheduler, progress=True)\n"
        "scheduler.debrief()\n"
        "print('OK' if ok is False else ok)"
    ),
}


def ascii_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONIOENCODING"] = "ascii"
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    env["TERM"] = "xterm"
    env["COLUMNS"] = "100"
    for name in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(name, None)
    return env


def run_on_pipe(code: str) -> tuple[int, str, str]:
    completed = subprocess.run(
        [sys.executable, "-c", SETUP + textwrap.dedent(code)],
        capture_output=True,
        env=ascii_env(),
        timeout=60,
        check=False,
    )
    return (
        completed.returncode,
        completed.stdout.decode("ascii"),  # fails if a byte is not ASCII
        completed.stderr.decode("utf-8", "replace"),
    )


def run_on_terminal(code: str) -> tuple[int, str, str]:
    """Run with stdout on a pseudo-terminal (rich then draws its live panel)."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", SETUP + textwrap.dedent(code)],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=ascii_env(),
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            readable, _, _ = select.select([master], [], [], 0.5)
            if not readable:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        stderr = process.communicate(timeout=30)[1]
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, b"".join(chunks).decode("ascii"), stderr.decode("utf-8", "replace")


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
@pytest.mark.parametrize("view", sorted(VIEWS))
def test_printing_views_degrade_characters_on_an_ascii_stdout(view: str, terminal: bool) -> None:
    returncode, out, err = (run_on_terminal if terminal else run_on_pipe)(VIEWS[view])
    assert "Traceback" not in err, err
    assert "UnicodeEncodeError" not in out + err
    assert returncode == 0, err
    lines = out.replace("\r", "").rstrip("\n").split("\n")
    assert lines[-1] == "OK"
    out = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)  # the terminal's control codes
    if not (view.startswith("progress") and terminal):  # the panel is gone at the end
        assert "caf\\xe9" in out  # the label, escaped, not dropped
    if view.startswith("progress"):
        assert "d\\xeener" in out  # the summary table's title and why()
    if view.startswith("progress") and terminal:
        assert "cr\\xe8me failed: ValueError: \\xe9chec \\u2717" in out  # the panel's news
    if view == "debrief":
        assert "ValueError: \\xe9chec \\u2717" in out  # the traceback, degraded too


def test_listing_on_a_latin1_stdout_keeps_what_it_can_write() -> None:
    env = ascii_env()
    env["PYTHONIOENCODING"] = "latin-1"
    completed = subprocess.run(
        [sys.executable, "-c", SETUP + "scheduler.list()"],
        capture_output=True,
        env=env,
        timeout=60,
        check=True,
    )
    out = completed.stdout.decode("latin-1")
    assert "<Job `café`>" in out  # latin-1 has é
    assert "<Job `thé \\u2713 \\u2026 \\u21ba`>" in out  # not the rest
    assert "\u26a0" not in out  # the status columns fell back to ASCII


def test_print_text_writes_to_the_current_stdout_and_skips_a_missing_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    monkeypatch.setattr(sys, "stdout", stream)
    jg.views.print_text("café ✓\n")
    stream.flush()
    assert raw.getvalue() == b"caf\\xe9 \\u2713\n"
    monkeypatch.setattr(sys, "stdout", None)
    jg.views.print_text("nowhere")  # pythonw: no stdout, nothing to do


class BrokenFile(io.StringIO):
    """An output that fails on every write after the first ``good`` ones."""

    def __init__(self, good: int) -> None:
        super().__init__()
        self.good = good

    def write(self, text: str) -> int:
        if self.good <= 0:
            raise OSError("the terminal went away")
        self.good -= 1
        return super().write(text)


async def work(x: Any) -> Any:
    await anyio.sleep(0.001)
    return x


@pytest.mark.anyio
@pytest.mark.parametrize("good", [0, 3], ids=["dead", "dies"])
@pytest.mark.parametrize("live", [False, True], ids=["plain", "live"])
async def test_progress_that_cannot_write_never_fails_the_run(
    live: bool, good: int, caplog: pytest.LogCaptureFixture
) -> None:
    jobs = [jg.Job(work, i, label=f"job {i}") for i in range(5)]
    scheduler = jg.Scheduler(*jobs, label="broken screen")
    screen = Console(file=BrokenFile(good), force_terminal=live, width=80)
    with (
        caplog.at_level(logging.ERROR, logger="jobgraph"),
        jg.Progress(scheduler, console=screen, live=live, refresh_per_second=50),
    ):
        assert await scheduler.run() is True
    assert [job.result() for job in jobs] == [0, 1, 2, 3, 4]
    assert "the terminal went away" in caplog.text


@pytest.mark.anyio
async def test_failing_subscriber_never_fails_a_run_with_nested_schedulers_and_skips(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fails() -> None:
        raise ValueError("job failed")

    calls = []

    def broken(event: jg.JobEvent) -> None:
        calls.append(event.kind)
        raise RuntimeError(f"subscriber bug on {event.kind}")

    bad = jg.Job(fails, label="bad", critical=False)
    skipped = jg.Job(work, 1, label="skipped", requires=bad, on_failed_requirement="skip")
    inner = jg.Scheduler(jg.Job(work, 2, label="inner job"), label="inner")
    scheduler = jg.Scheduler(bad, skipped, inner, label="outer")
    scheduler.subscribe(broken)
    with caplog.at_level(logging.ERROR, logger="jobgraph"):
        assert await scheduler.run() is True
    assert jg.EventKind.SKIPPED in calls and calls[-1] is jg.EventKind.RUN_FINISHED
    assert "subscriber bug on run_finished" in caplog.text
    assert skipped.record.outcome == "skipped"
