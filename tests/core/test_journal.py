"""The run journal: runs recorded in SQLite, resumed, read back (issue 26)."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import jobgraph as jg
from jobgraph import lowlevel
from jobgraph.journal import Journal, JournalError, register_type

pytestmark = pytest.mark.anyio

SRC = str(Path(__file__).resolve().parents[2] / "src")


class Calls:
    """Bodies that count their runs and fail on demand."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.failing: set[str] = set()

    async def work(self, name: str, *inputs: Any) -> Any:
        self.ran.append(name)
        if name in self.failing:
            raise RuntimeError(f"boom {name}")
        return {"name": name, "inputs": list(inputs)}


def pipeline(calls: Calls) -> tuple[jg.Scheduler, dict[str, jg.Job]]:
    """a -> b -> d, c -> d (d takes b's and c's results), e alone."""
    s = jg.Scheduler(label="pipe")
    a = jg.Job(calls.work, "a", label="a", scheduler=s, critical=False)
    b = jg.Job(calls.work, "b", jg.ResultOf(a), label="b", scheduler=s, critical=False)
    c = jg.Job(calls.work, "c", label="c", scheduler=s, critical=False)
    d = jg.Job(
        calls.work, "d", jg.ResultOf(b), jg.ResultOf(c), label="d", scheduler=s, critical=False
    )
    e = jg.Job(calls.work, "e", label="e", scheduler=s, critical=False)
    return s, {"a": a, "b": b, "c": c, "d": d, "e": e}


async def test_a_run_is_recorded_with_every_job(tmp_path: Path) -> None:
    calls = Calls()
    calls.failing = {"c"}
    s, _ = pipeline(calls)
    assert await s.run(journal=tmp_path / "runs.db")
    (run,) = Journal(tmp_path / "runs.db").runs()
    assert run.label == "pipe" and run.outcome == "ok" and run.ended is not None
    assert run.backend in {"asyncio", "trio"} and run.host and run.version
    assert run.counts == {"ok": 3, "failed": 2}
    jobs = {job.key: job for job in Journal(tmp_path / "runs.db").jobs(run.id)}
    assert jobs["a"].result == {"name": "a", "inputs": []}
    assert jobs["c"].exc_type == "RuntimeError" and jobs["c"].exc_message == "boom c"
    assert jobs["d"].outcome == "failed"  # its input from c is unavailable
    assert jobs["a"].started is not None and jobs["a"].ended is not None
    assert jobs["a"].attempts == 1


async def test_resume_runs_again_only_what_did_not_succeed_and_downstream(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "runs.db"
    calls = Calls()
    calls.failing = {"b"}
    s, _ = pipeline(calls)
    await s.run(journal=journal)
    assert sorted(calls.ran) == ["a", "b", "c", "e"]  # d had no input
    calls.ran.clear()
    calls.failing = set()
    s2, jobs = pipeline(calls)
    assert await s2.run(journal=journal, resume=True)
    assert sorted(calls.ran) == ["b", "d"]  # a, c, e restored
    # restored results flow into placeholders and result() as if just run
    assert jobs["a"].result() == {"name": "a", "inputs": []}
    assert jobs["b"].result() == {"name": "b", "inputs": [{"name": "a", "inputs": []}]}
    assert jobs["d"].result()["inputs"][1] == {"name": "c", "inputs": []}
    assert lowlevel.journal_mark_of(jobs["a"]) == "↺ restored"
    assert lowlevel.journal_mark_of(jobs["b"]) is None
    listing = s2.list_text()
    assert listing.count("↺ restored") == 3
    assert "<-" in s2.list_text(ascii=True)
    # a third resume runs nothing
    calls.ran.clear()
    s3, _ = pipeline(calls)
    assert await s3.run(journal=journal, resume=True)
    assert calls.ran == []
    runs = Journal(journal).runs()
    assert [run.resumed_from for run in runs] == [None, 1, 2]
    assert runs[-1].counts == {"restored": 5}


async def test_a_job_downstream_of_a_rerun_job_runs_again(tmp_path: Path) -> None:
    """d succeeded on c's output in run 1; c fails... no: c is forced to rerun by a
    changed argument, so d must not keep its old result."""
    journal = tmp_path / "runs.db"
    ran: list[str] = []

    async def step(name: str, version: int = 0) -> str:
        ran.append(name)
        return f"{name}{version}"

    def build(version: int) -> jg.Scheduler:
        s = jg.Scheduler(label="p")
        c = jg.Job(step, "c", version, label="c", scheduler=s)
        jg.Job(step, "d", label="d", requires=c, scheduler=s)
        jg.Job(step, "x", label="x", scheduler=s)
        return s

    await build(0).run(journal=journal)
    ran.clear()
    s = build(1)
    await s.run(journal=journal, resume=True)
    assert sorted(ran) == ["c", "d"]
    c = next(job for job in s.jobs if job.label == "c")
    assert lowlevel.journal_mark_of(c) == "ran again: its arguments changed"


async def test_skipped_cancelled_and_never_started_jobs_run_on_resume(tmp_path: Path) -> None:
    journal = tmp_path / "runs.db"
    ran: list[str] = []
    fail = {"boom": True}

    async def step(name: str) -> str:
        ran.append(name)
        if name == "bad" and fail["boom"]:
            raise RuntimeError("no")
        if name == "slow" and fail["boom"]:
            await anyio.sleep(30)
        return name

    def build() -> jg.Scheduler:
        s = jg.Scheduler(label="p", jobs_window=2)
        slow = jg.Job(step, "slow", label="slow", scheduler=s)
        bad = jg.Job(step, "bad", label="bad", scheduler=s, critical=False)
        jg.Job(
            step,
            "skipped",
            label="skipped",
            requires=bad,
            scheduler=s,
            on_failed_requirement="skip",
            critical=False,
        )
        jg.Job(step, "later", label="later", requires=slow, scheduler=s)
        crit = jg.Job(step, "crit", label="crit", requires=bad, scheduler=s)
        crit.on_failed_requirement = "run"
        return s

    s = build()
    # "crit" runs (on_failed_requirement run) and succeeds; make the run end by timeout
    s.timeout = 1.0
    assert not await s.run(journal=journal)
    outcomes = {job.key: job.outcome for job in Journal(journal).jobs()}
    assert outcomes["slow"] == "cancelled" and outcomes["bad"] == "failed"
    assert outcomes["skipped"] == "skipped" and outcomes["later"] == "idle"
    assert Journal(journal).runs()[-1].outcome == "failed"
    ran.clear()
    fail["boom"] = False
    s = build()
    assert await s.run(journal=journal, resume=True)
    # crit succeeded on a failed requirement's (absent) output: bad reruns, so crit too
    assert sorted(ran) == ["bad", "crit", "later", "skipped", "slow"]


async def test_forever_jobs_always_run(tmp_path: Path) -> None:
    journal = tmp_path / "runs.db"
    ran: list[str] = []

    async def daemon() -> None:
        ran.append("daemon")
        await anyio.sleep_forever()

    async def step() -> int:
        ran.append("step")
        return 1

    def build() -> jg.Scheduler:
        s = jg.Scheduler(label="p")
        jg.Job(daemon, label="daemon", forever=True, scheduler=s)
        jg.Job(step, label="step", scheduler=s)
        return s

    async def other() -> int:
        ran.append("other")
        return 2

    await build().run(journal=journal)
    assert "step" in ran
    ran.clear()
    s = build()
    # "other" starts once the daemon runs: the daemon surely runs before the run ends
    jg.Job(other, label="other", requires=s.jobs[0], scheduler=s)
    await s.run(journal=journal, resume=True)
    assert sorted(ran) == ["daemon", "other"]  # the daemon runs again, step is restored
    ran.clear()
    s = build()
    jg.Job(other, label="other", requires=s.jobs[0], scheduler=s)
    await s.run(journal=journal, resume=True)
    assert sorted(ran) == ["daemon", "other"]  # downstream of a daemon: runs again
    ran.clear()
    s = build()
    jg.Job(other, label="other", scheduler=s)
    await s.run(journal=journal, resume=True)
    assert ran == []  # every finite job restored: the run is over before it starts


async def test_an_unjournalable_result_runs_again_and_the_listing_says_why(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "runs.db"
    ran: list[str] = []

    class Opaque:
        pass

    async def make() -> Opaque:
        ran.append("make")
        return Opaque()

    s = jg.Scheduler(jg.Job(make, label="make"), label="p")
    assert await s.run(journal=journal)
    assert "result not journaled: the result is a" in s.list_text()
    ran.clear()
    s = jg.Scheduler(jg.Job(make, label="make"), label="p")
    assert await s.run(journal=journal, resume=True)
    assert ran == ["make"]
    assert "ran again: its result was not journaled" in s.list_text()


async def test_resume_on_a_missing_or_empty_journal_runs_everything(tmp_path: Path) -> None:
    calls = Calls()
    s, _ = pipeline(calls)
    assert await s.run(journal=tmp_path / "missing.db", resume=True)
    assert len(calls.ran) == 5
    (tmp_path / "empty.db").touch()
    calls.ran.clear()
    s, _ = pipeline(calls)
    assert await s.run(journal=jg.Journal(tmp_path / "empty.db"), resume=True)
    assert len(calls.ran) == 5


async def test_a_duplicate_key_is_refused_before_anything_runs(tmp_path: Path) -> None:
    calls = Calls()
    s = jg.Scheduler(label="p")
    jg.Job(calls.work, "x", key="same", scheduler=s)
    jg.Job(calls.work, "y", key="same", scheduler=s)
    with pytest.raises(jg.DuplicateKeyError, match="'same'"):
        await s.run(journal=tmp_path / "runs.db")
    assert calls.ran == []
    assert not (tmp_path / "runs.db").exists()
    # the scheduler is untouched: it runs once the key is fixed
    s.jobs[1]._key = "other"
    assert await s.run(journal=tmp_path / "runs.db")


async def test_keys_are_label_paths_with_indexes_where_labels_repeat(tmp_path: Path) -> None:
    calls = Calls()
    inner = jg.Scheduler(label="inner")
    jg.Job(calls.work, "i", label="step", scheduler=inner)
    jg.Job(calls.work, "j", label="step", scheduler=inner)
    s = jg.Scheduler(inner, label="root")
    jg.Job(calls.work, "k", label="step", scheduler=s)
    jg.Job(calls.work, "m", label="mine", key="my/own", scheduler=s)
    await s.run(journal=tmp_path / "runs.db")
    keys = sorted(job.key for job in Journal(tmp_path / "runs.db").jobs())
    assert keys == ["inner", "inner/step[0]", "inner/step[1]", "my/own", "step"]


async def test_nested_schedulers_resume_inside(tmp_path: Path) -> None:
    journal = tmp_path / "runs.db"
    calls = Calls()
    calls.failing = {"j"}

    def build() -> jg.Scheduler:
        inner = jg.Scheduler(label="inner", critical=False)
        jg.Job(calls.work, "i", label="i", scheduler=inner, critical=False)
        jg.Job(calls.work, "j", label="j", scheduler=inner, critical=False)
        done = jg.Scheduler(label="done")
        jg.Job(calls.work, "k", label="k", scheduler=done)
        return jg.Scheduler(inner, done, label="root")

    await build().run(journal=journal)
    calls.ran.clear()
    calls.failing = set()
    assert await build().run(journal=journal, resume=True)
    assert calls.ran == ["j"]


async def test_a_file_that_is_not_a_journal_is_refused_and_left_untouched(
    tmp_path: Path,
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("my precious notes\n")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("INSERT INTO t VALUES (1)")
    conn.close()
    before = other.read_bytes()
    calls = Calls()
    for path in (text, other):
        s, _ = pipeline(calls)
        with pytest.raises(JournalError, match="not a jobgraph journal") as info:
            await s.run(journal=path)
        assert str(path) in str(info.value)
    assert calls.ran == []
    assert text.read_text() == "my precious notes\n"
    assert other.read_bytes() == before
    assert not (tmp_path / "other.db-wal").exists()


async def test_a_journal_from_a_newer_schema_is_refused(tmp_path: Path) -> None:
    journal = tmp_path / "runs.db"
    s, _ = pipeline(Calls())
    await s.run(journal=journal)
    with sqlite3.connect(journal) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    s, _ = pipeline(Calls())
    with pytest.raises(JournalError, match="newer jobgraph"):
        await s.run(journal=journal)
    with pytest.raises(JournalError, match="newer jobgraph"):
        Journal(journal).runs()


# Run in a process for which the location really is read-only: as root, one without the
# capabilities that let root write anywhere (dropped from its bounding set before exec,
# so the new program never gets them back); otherwise the user, kept out by the modes.
_LOCKED_SCRIPT = """
import json, os, sys
import jobgraph as jg
from jobgraph.journal import Journal, JournalError

locked, backend = sys.argv[1:3]
try:
    open(os.path.join(locked, "probe"), "x").close()
except PermissionError:
    pass
else:
    os.remove(os.path.join(locked, "probe"))
    sys.exit(77)  # this process can write there: the test cannot be made

async def work():
    return 1

def attempt(name, **options):
    s = jg.Scheduler(label="pipe")
    jg.Job(work, label="a", scheduler=s)
    try:
        jg.run(s, journal=os.path.join(locked, name), backend=backend, **options)
    except JournalError as exc:
        return str(exc)
    return "ran"

print(json.dumps({
    "new": attempt("new.db"),
    "read-only file": attempt("runs.db", resume=True),
    "writable file": attempt("writable.db", resume=True),
    "runs": [run.outcome for run in Journal(os.path.join(locked, "runs.db")).runs()],
    "jobs": [job.key for job in Journal(os.path.join(locked, "runs.db")).jobs()],
}))
"""

_CAPABILITIES_OF_ROOT = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
_PR_CAPBSET_DROP = 24


def _without_root_powers() -> Callable[[], None]:
    """What the child runs before exec: it drops root's powers. Made in the parent, so
    that the child (forked from a process that may have threads) imports nothing."""
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def drop() -> None:  # pragma: no cover - runs in the child
        for capability in _CAPABILITIES_OF_ROOT:
            if prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) refused")

    return drop


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_read_only_location_is_a_clear_error_and_loses_nothing(
    tmp_path: Path, backend: str
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    s, _ = pipeline(Calls())
    assert jg.run(s, journal=locked / "runs.db", backend=backend)
    s, _ = pipeline(Calls())
    assert jg.run(s, journal=locked / "writable.db", backend=backend)
    (locked / "runs.db").chmod(0o444)
    locked.chmod(0o555)
    before = {path.name: path.read_bytes() for path in locked.iterdir()}
    script = tmp_path / "locked.py"
    script.write_text(_LOCKED_SCRIPT)
    try:
        done = subprocess.run(
            [sys.executable, str(script), str(locked), backend],
            env={**os.environ, "PYTHONPATH": SRC},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            preexec_fn=_without_root_powers() if os.geteuid() == 0 else None,
        )
    except subprocess.SubprocessError as exc:  # pragma: no cover - a locked-down machine
        pytest.skip(f"cannot start a process without root's powers here: {exc}")
    finally:
        locked.chmod(0o755)
    if done.returncode == 77:  # pragma: no cover
        pytest.skip("this machine gives no way to make a location unwritable to a process")
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert "directory is not writable" in seen["new"] and "new.db" in seen["new"]
    assert "read-only" in seen["read-only file"] and "runs.db" in seen["read-only file"]
    assert "not writable" in seen["writable file"] and "writable.db" in seen["writable file"]
    # the past run is still readable there, and nothing changed
    assert seen["runs"] == ["ok"]
    assert sorted(seen["jobs"]) == ["a", "b", "c", "d", "e"]
    assert {path.name: path.read_bytes() for path in locked.iterdir()} == before


async def test_a_read_only_directory_is_a_clear_error_even_as_root(tmp_path: Path) -> None:
    s, _ = pipeline(Calls())
    with pytest.raises(JournalError, match="directory"):
        await s.run(journal=tmp_path)  # a directory, not a file
    with pytest.raises(JournalError, match=r"not writable|cannot"):
        await pipeline(Calls())[0].run(journal="/proc/jobgraph-journal.db")


async def test_resume_without_a_journal_is_refused() -> None:
    s, _ = pipeline(Calls())
    with pytest.raises(jg.InvalidOptionError, match="journal"):
        await s.run(resume=True)


def test_the_codec_carries_tagged_types_and_registered_dataclasses(tmp_path: Path) -> None:
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Point:
        x: int
        where: pathlib.PurePosixPath

    register_type(Point, "tests.Point")
    value = {
        "t": (1, 2.5, None),
        "s": {1, 2},
        "f": frozenset({"a"}),
        "b": b"\x00\xff",
        "p": pathlib.PurePosixPath("/tmp/x"),
        "keys": {1: "one", (2, 3): "tuple"},
        "$t": "a key like the tag",
        "pt": Point(3, pathlib.PurePosixPath("/a")),
        "inf": float("inf"),
    }
    calls: list[int] = []

    async def give() -> Any:
        calls.append(1)
        return value

    journal = tmp_path / "runs.db"
    for resume in (False, True):
        s = jg.Scheduler(jg.Job(give, label="give"), label="codec")
        assert jg.run(s, journal=journal, resume=resume)
        assert s.jobs[0].result() == value
    assert calls == [1]


def test_jg_run_takes_a_journal_on_both_backends(tmp_path: Path) -> None:
    journal = tmp_path / "runs.db"
    for backend in ("asyncio", "trio"):
        s, _ = pipeline(Calls())
        assert jg.run(s, journal=journal, backend=backend)
    assert [run.backend for run in Journal(journal).runs()] == ["asyncio", "trio"]


def _command(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run(
        [sys.executable, "-m", "jobgraph.journal", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_the_command_lists_shows_and_diffs_runs(tmp_path: Path) -> None:
    journal = tmp_path / "runs.db"
    calls = Calls()
    calls.failing = {"c"}
    jg.run(pipeline(calls)[0], journal=journal)
    calls.failing = set()
    jg.run(pipeline(calls)[0], journal=journal, resume=True)
    listed = _command(str(journal))
    assert listed.returncode == 0, listed.stderr
    assert "pipe (resumed 1)" in listed.stdout and "2 failed, 3 ok" in listed.stdout
    shown = _command(str(journal), "show", "1")
    assert "failed c" in shown.stdout and "RuntimeError: boom c" in shown.stdout
    shown2 = _command(str(journal), "show")
    assert "↺ restored a (from run 1)" in shown2.stdout
    diff = _command(str(journal), "diff", "1", "2")
    assert "outcome   c: failed" in diff.stdout
    data = json.loads(_command(str(journal), "--json").stdout)
    assert [run["id"] for run in data] == [1, 2]
    data = json.loads(_command(str(journal), "show", "2", "--json").stdout)
    assert {job["key"] for job in data["jobs"]} == {"a", "b", "c", "d", "e"}
    data = json.loads(_command(str(journal), "diff", "1", "2", "--json").stdout)
    assert {change["key"] for change in data} == {"c", "d"}
    # --json before the subcommand counts too
    data = json.loads(_command(str(journal), "--json", "show", "2").stdout)
    assert {job["key"] for job in data["jobs"]} == {"a", "b", "c", "d", "e"}
    data = json.loads(_command(str(journal), "--json", "diff", "1", "2").stdout)
    assert {change["key"] for change in data} == {"c", "d"}
    missing = _command(str(journal), "show", "7")
    assert missing.returncode == 1 and "no run '7'" in missing.stderr
    # the same data from Python
    assert Journal(journal).diff(1, 2)[0]["key"] == "c"


def test_two_runs_writing_one_journal_at_once_are_both_recorded(tmp_path: Path) -> None:
    journal = tmp_path / "runs.db"
    script = tmp_path / "writer.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, anyio
            import jobgraph as jg
            async def step(i):
                await anyio.sleep(0.001)
                return i
            s = jg.Scheduler(label=sys.argv[2])
            for i in range(300):
                jg.Job(step, i, label=f"j{i}", scheduler=s)
            assert jg.run(s, journal=sys.argv[1], backend=sys.argv[3])
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    procs = [
        subprocess.Popen([sys.executable, str(script), str(journal), f"w{i}", backend], env=env)
        for i, backend in enumerate(("asyncio", "trio", "asyncio"))
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    runs = Journal(journal).runs()
    assert sorted(run.label for run in runs) == ["w0", "w1", "w2"]
    assert all(run.counts == {"ok": 300} for run in runs)
    with sqlite3.connect(journal) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_processes_creating_one_journal_at_once_all_record_their_run(tmp_path: Path) -> None:
    """Bug: a process that looked at a journal while another was creating its schema
    could see the tables without the application id, and refuse the file as "not a
    jobgraph journal" (about 1 process in 100 here). The check now reads one snapshot."""
    code = (
        "import sys, jobgraph as jg\n"
        "async def f(): return 1\n"
        "s = jg.Scheduler(jg.Job(f, label='a'), label=sys.argv[2])\n"
        "assert jg.run(s, journal=sys.argv[1])\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    for round_ in range(12):  # a fresh file each round: the race is at creation
        journal = tmp_path / f"runs{round_}.db"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(journal), f"w{i}"],
                env=env,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(6)
        ]
        # every process waited for and its pipe closed before any assertion (a failure
        # must not leave pipes for the garbage collector to report in a later test)
        errors = [proc.communicate(timeout=120)[1] for proc in procs]
        assert [proc.returncode for proc in procs] == [0] * 6, errors
        assert len(Journal(journal).runs()) == 6


@contextlib.contextmanager
def locked(path: Path, seconds: float) -> Iterator[None]:
    """Another connection holds the write lock of an SQLite file not yet in WAL mode
    for ``seconds`` (as a process creating the journal at the same moment does)."""
    held = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            held.set()
            time.sleep(seconds)
            conn.execute("COMMIT")
        finally:
            conn.close()

    locker = threading.Thread(target=hold)
    locker.start()
    try:
        assert held.wait(10)
        yield
    finally:
        locker.join()


async def one() -> int:
    return 1


async def test_a_run_waits_for_a_journal_locked_while_another_process_creates_it(
    tmp_path: Path,
) -> None:
    """Bug: SQLite does not wait (no busy handler) when a connection asks for WAL mode
    while another holds the file's write lock: the run failed at once with a bare
    "database is locked" (seen in CI with several processes creating one journal)."""
    journal = tmp_path / "runs.db"
    with locked(journal, 0.5):
        scheduler = jg.Scheduler(jg.Job(one, label="a"), label="waited")
        assert await scheduler.run(journal=journal)
    [run] = Journal(journal).runs()
    assert (run.label, run.counts) == ("waited", {"ok": 1})


async def test_a_journal_locked_longer_than_its_timeout_is_a_clear_error(tmp_path: Path) -> None:
    journal = tmp_path / "runs.db"
    with locked(journal, 1.5):
        scheduler = jg.Scheduler(jg.Job(one, label="a"), label="refused")
        with pytest.raises(jg.JournalError, match=r"runs\.db.*locked by another process"):
            await scheduler.run(journal=jg.Journal(journal, timeout=0.3))


async def test_a_journal_that_cannot_be_written_mid_run_fails_the_run(tmp_path: Path) -> None:
    journal = tmp_path / "runs.db"
    holder: list[sqlite3.Connection] = []
    later: list[str] = []

    async def lock() -> None:
        # another writer takes the journal and keeps it
        conn = sqlite3.connect(journal, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        holder.append(conn)

    async def after() -> None:
        later.append("ran")

    s = jg.Scheduler(label="p")
    first = jg.Job(lock, label="lock", scheduler=s)
    jg.Job(after, label="after", requires=first, scheduler=s)
    try:
        ok = await s.run(journal=jg.Journal(journal, timeout=0.05))
    finally:
        for conn in holder:
            conn.execute("ROLLBACK")
            conn.close()
    assert not ok
    assert isinstance(s.failure, JournalError)
    assert str(journal) in str(s.failure) and "locked" in str(s.failure)
    assert "cannot write journal" in s.why()


async def test_restored_jobs_are_announced_done_and_reset_forgets_the_marks(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "runs.db"
    s, _ = pipeline(Calls())
    await s.run(journal=journal)
    s, jobs = pipeline(Calls())
    events: list[jg.JobEvent] = []
    s.subscribe(events.append)
    await s.run(journal=journal, resume=True)
    finished = {event.job.label for event in events if event.kind is jg.EventKind.FINISHED}
    assert finished == {"a", "b", "c", "d", "e"}
    started = {event.job.label for event in events if event.kind is jg.EventKind.STARTED}
    assert started == set()
    s.reset()
    assert lowlevel.journal_mark_of(jobs["a"]) is None
    assert "restored" not in s.list_text()


async def test_bad_journal_arguments_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(jg.JobDefinitionError, match="file path"):
        jg.Journal(42)  # type: ignore[arg-type]
    s, _ = pipeline(Calls())
    with pytest.raises(jg.InvalidOptionError, match="resume"):
        await s.run(journal=tmp_path / "runs.db", resume="yes")  # type: ignore[arg-type]
    with pytest.raises(jg.JobDefinitionError, match="key"):
        jg.Job(Calls().work, "x", key="")
    with pytest.raises(JournalError, match="no run 9"):
        await s.run(journal=tmp_path / "runs.db", resume=9)


async def test_plain_successes_are_read_back_like_the_others(tmp_path: Path) -> None:
    """Jobs without a result, arguments or notes are journaled a batch to a row: the
    listing, the counts, the debrief, the diff and resume see them one by one."""
    journal = tmp_path / "runs.db"
    ran: list[str] = []

    async def plain() -> None:
        ran.append("plain")

    async def valued() -> int:
        ran.append("valued")
        return 7

    def build() -> jg.Scheduler:
        s = jg.Scheduler(label="mixed")
        first = [jg.Job(plain, label="p", scheduler=s) for _ in range(300)]  # > a batch
        jg.Job(valued, label="valued", scheduler=s, requires=first[-1])
        return s

    assert await build().run(journal=journal)
    assert await build().run(journal=journal, resume=True)
    assert ran.count("plain") == 300 and ran.count("valued") == 1
    reader = Journal(journal)
    first_run, second_run = reader.runs()
    assert first_run.counts == {"ok": 301}
    assert second_run.counts == {"restored": 301} and second_run.resumed_from == 1
    jobs = {job.key: job for job in reader.jobs(1)}
    assert len(jobs) == 301
    one = jobs["p[299]"]
    assert one.outcome == "ok" and one.attempts == 1 and one.result is None
    assert one.started is not None and one.ended is not None and one.scheduled is not None
    assert first_run.ended is not None
    assert first_run.started - 1 < one.started <= one.ended < first_run.ended + 1
    valued_started = jobs["valued"].started
    assert valued_started is not None
    assert one.ended <= valued_started  # read in wall-clock time, like the others
    assert [job.key for job in reader.jobs(1)][-1] == "valued"  # in the order they ended
    restored = {job.key: job for job in reader.jobs(2)}
    assert restored["p[0]"].restored_from == 1 and restored["p[0]"].attempts == 0
    assert "301 jobs: 301 ok" in reader.debrief(1)
    assert reader.diff(1, 2) == []
    # a third run restores from the second: the jobs keep the run that ran them
    ran.clear()
    assert await build().run(journal=journal, resume=True)
    assert ran == []
    assert {job.restored_from for job in reader.jobs(3)} == {1}


async def test_a_schema_1_journal_is_upgraded_and_its_runs_kept(tmp_path: Path) -> None:
    journal = tmp_path / "runs.db"
    calls = Calls()
    s, _ = pipeline(calls)
    assert await s.run(journal=journal)
    with sqlite3.connect(journal) as conn:  # as the first jobgraph with a journal left it
        conn.execute("DROP TABLE oks")
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    assert [run.counts for run in Journal(journal).runs()] == [{"ok": 5}]  # read as it is
    calls.ran.clear()
    s, _ = pipeline(calls)
    assert await s.run(journal=journal, resume=True)
    assert calls.ran == []
    with sqlite3.connect(journal) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    conn.close()
    assert [run.counts for run in Journal(journal).runs()] == [{"ok": 5}, {"restored": 5}]


async def test_the_notes_of_successes_are_journaled(tmp_path: Path) -> None:
    journal = tmp_path / "runs.db"

    class Chatty(jg.AbstractJob):
        def __init__(self, result: Any, **options: Any) -> None:
            self.value = result
            super().__init__(**options)

        async def run(self) -> Any:
            lowlevel.emit_note(self, "connecting", host="h1")
            lowlevel.emit_note(self, "connected")
            return self.value

    s = jg.Scheduler(Chatty(None, label="quiet"), Chatty(3, label="valued"), label="notes")
    assert await s.run(journal=journal)
    jobs = {job.key: job for job in Journal(journal).jobs()}
    assert jobs["quiet"].notes == jobs["valued"].notes == "connecting\nconnected"


async def test_a_retried_nested_scheduler_leaves_one_row_per_job(tmp_path: Path) -> None:
    """The jobs of a retried nested scheduler run again: the journal keeps their last
    attempt only (one row per key and run), and a resume still restores them."""
    journal = tmp_path / "runs.db"
    calls = Calls()
    attempts = {"flaky": 0}

    async def flaky() -> str:
        attempts["flaky"] += 1
        if attempts["flaky"] == 1:
            raise RuntimeError("first time")
        return "fine"

    async def plain() -> None:
        calls.ran.append("plain")

    def build() -> jg.Scheduler:
        inner = jg.Scheduler(label="inner", retry=2)
        first = jg.Job(calls.work, "first", label="first", scheduler=inner)
        jg.Job(plain, label="plain", scheduler=inner)
        jg.Job(flaky, label="flaky", scheduler=inner, requires=first)
        return jg.Scheduler(inner, label="root")

    assert await build().run(journal=journal)
    assert calls.ran.count("first") == 2 and attempts["flaky"] == 2  # the retry ran all
    keys = [job.key for job in Journal(journal).jobs()]
    assert sorted(keys) == ["inner", "inner/first", "inner/flaky", "inner/plain"]
    (run,) = Journal(journal).runs()
    assert run.counts == {"ok": 4}
    calls.ran.clear()
    assert await build().run(journal=journal, resume=True)
    assert calls.ran == [] and attempts["flaky"] == 2


async def test_a_nested_scheduler_retried_on_resume_keeps_its_restored_jobs(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "runs.db"
    calls = Calls()
    failures = {"flaky": 99}  # how many more times flaky fails

    async def flaky(upstream: Any) -> Any:
        calls.ran.append("flaky")
        if failures["flaky"] > 0:
            failures["flaky"] -= 1
            raise RuntimeError("not yet")
        return upstream

    def build() -> jg.Scheduler:
        inner = jg.Scheduler(label="inner", retry=2, critical=False)
        first = jg.Job(calls.work, "first", label="first", scheduler=inner)
        jg.Job(calls.work, "second", label="second", scheduler=inner)
        jg.Job(flaky, jg.ResultOf(first), label="flaky", scheduler=inner)
        return jg.Scheduler(inner, label="root")

    await build().run(journal=journal)  # flaky fails twice: inner fails
    assert calls.ran.count("first") == 2
    calls.ran.clear()
    failures["flaky"] = 1  # fails once more: inner is retried, then succeeds
    again = build()
    assert await again.run(journal=journal, resume=True)
    # first and second restored, in both attempts of inner; flaky saw first's result
    assert calls.ran == ["flaky", "flaky"]
    inner = again.jobs[0]
    assert isinstance(inner, jg.Scheduler)
    by_label = {job.label: job for job in inner.jobs}
    assert by_label["flaky"].result() == {"name": "first", "inputs": []}
    assert lowlevel.journal_mark_of(by_label["first"]) == "↺ restored"
    jobs = Journal(journal).jobs()
    assert sorted(job.key for job in jobs) == [
        "inner",
        "inner/first",
        "inner/flaky",
        "inner/second",
    ]
    assert {job.key: job.restored_from for job in jobs}["inner/first"] == 1


async def test_a_nested_scheduler_takes_a_key(tmp_path: Path) -> None:
    journal = tmp_path / "runs.db"
    calls = Calls()

    def build(label: str) -> jg.Scheduler:
        inner = jg.Scheduler(label=label, key="stage")
        jg.Job(calls.work, "i", label="i", scheduler=inner)
        return jg.Scheduler(inner, label="root")

    assert await build("stage (v1)").run(journal=journal)
    assert sorted(job.key for job in Journal(journal).jobs()) == ["stage", "stage/i"]
    calls.ran.clear()
    assert await build("stage (renamed)").run(journal=journal, resume=True)
    assert calls.ran == []  # the same key: restored
    with pytest.raises(jg.JobDefinitionError, match="key"):
        jg.Scheduler(key="")


async def test_keys_with_any_characters_are_journaled_and_restored(tmp_path: Path) -> None:
    """Plain successes are journaled a batch to a row (their keys as one JSON array):
    keys with quotes, backslashes, control characters or non-ASCII ones come back."""
    keys = ['a"b', "c\\d", "e\nf\x01", "né 日本", "[]", ""]
    ran: list[str] = []

    def pipeline_of_keys() -> jg.Scheduler:
        s = jg.Scheduler(label="keys")
        for key in keys:

            async def body(key: str = key) -> None:
                ran.append(key)

            jg.Job(body, label="k", key=key or "empty", scheduler=s)
        return s

    assert await pipeline_of_keys().run(journal=tmp_path / "runs.db")
    assert sorted(job.key for job in Journal(tmp_path / "runs.db").jobs()) == sorted(
        key or "empty" for key in keys
    )
    ran.clear()
    assert await pipeline_of_keys().run(journal=tmp_path / "runs.db", resume=True)
    assert ran == []
