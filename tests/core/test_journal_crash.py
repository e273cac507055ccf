"""Crash safety of the run journal: a process killed (SIGKILL) at random points, then
resumed, loses nothing, and runs a body twice only if it was in flight at the crash.

Each body appends ``done KEY PROCESS`` to a log file when it ends (after which it may
still be in flight: its success is not committed yet). After each kill, the journal
says which jobs had committed success; the check is that

- no job whose success was committed ever runs again;
- every job ran to completion at least once, and the last run succeeded;
- at each crash, at most ``jobs_window`` jobs had completed their body without their
  success being committed (those, and only those, may run twice).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")
WINDOW = 4

SCRIPT = """
import os, random, sys
import anyio
import jobgraph as jg

journal, log, backend, process = sys.argv[1:5]
rng = random.Random(7)

async def body(key, *inputs):
    await anyio.sleep(rng.random() * 0.02)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, f"done {key} {process}\\n".encode())
    os.close(fd)
    # half the jobs return nothing: their successes are journaled in batches (table oks)
    return key if key.endswith(("0", "2", "4", "6", "8")) else None

s = jg.Scheduler(label="crash", jobs_window=WINDOW_)
layers = []
for layer in range(6):
    row = []
    for i in range(12):
        key = f"j{layer}-{i}"
        inputs = [jg.ResultOf(layers[-1][(i + k) % 12]) for k in range(2)] if layers else []
        row.append(jg.Job(body, key, *inputs, label=key, scheduler=s))
    layers.append(row)
print("go", flush=True)
ok = jg.run(s, journal=journal, resume=True, backend=backend)
sys.exit(0 if ok else 3)
""".replace("WINDOW_", str(WINDOW))

KEYS = {f"j{layer}-{i}" for layer in range(6) for i in range(12)}


def _committed(journal: Path) -> set[str]:
    """The keys whose success is committed in the latest run (ok or restored)."""
    if not journal.exists():
        return set()
    conn = sqlite3.connect(journal)
    try:
        tables = conn.execute("SELECT name FROM sqlite_master WHERE name = 'runs'").fetchall()
        if not tables:
            return set()
        row = conn.execute("SELECT max(id) FROM runs").fetchone()
        if row[0] is None:
            return set()
        committed = {
            key
            for (key,) in conn.execute(
                "SELECT key FROM jobs WHERE run = ? AND outcome = 'ok'", (row[0],)
            )
        }
        # the plainest successes: a batch per row of table oks, keys as a JSON array
        for (keys,) in conn.execute("SELECT keys FROM oks WHERE run = ?", (row[0],)):
            committed.update(json.loads(keys))
        return committed
    finally:
        conn.close()


def _done(log: Path) -> list[tuple[str, int]]:
    if not log.exists():
        return []
    lines = log.read_text().splitlines()
    return [(line.split()[1], int(line.split()[2])) for line in lines if line.startswith("done")]


def one_round(directory: Path, backend: str, rng: random.Random, kills_left: int) -> int:
    """Run the pipeline, killing it at random points, until a run succeeds; check the
    journal and the bodies after each process. Returns the number of kills."""
    directory.mkdir()
    script = directory / "pipeline.py"
    script.write_text(SCRIPT)
    journal = directory / "runs.db"
    log = directory / "bodies.log"
    env = {**os.environ, "PYTHONPATH": SRC}
    committed_before: set[str] = set()
    killed = 0
    process = 0
    while True:
        process += 1
        assert process < 100, "the pipeline never finished"
        proc = subprocess.Popen(
            [sys.executable, str(script), str(journal), str(log), backend, str(process)],
            env=env,
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        proc.stdout.readline()  # "go": the run starts now
        status: int | None
        if killed < kills_left and rng.random() < 0.8:
            try:
                status = proc.wait(timeout=rng.uniform(0.0, 0.3))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=60)
                killed += 1
                status = None
        else:
            status = proc.wait(timeout=120)
        proc.stdout.close()
        mine = [key for key, who in _done(log) if who == process]
        # no job whose success was committed ran again
        assert not committed_before & set(mine), (committed_before & set(mine), process)
        committed = _committed(journal)
        assert committed_before <= committed, process
        if status is None:
            # at the crash, the bodies that completed without a commit may run again
            lost = set(mine) - committed
            assert len(lost) <= WINDOW, (lost, process)
        else:
            assert status == 0, status
            break
        committed_before = committed
    counts = Counter(key for key, _ in _done(log))
    assert set(counts) == KEYS
    assert _committed(journal) == KEYS
    # every extra run is accounted for by a crash, at most WINDOW per crash
    assert sum(counts.values()) - len(KEYS) <= WINDOW * killed
    return killed


def crash_and_resume(tmp_path: Path, backend: str, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    killed = rounds = 0
    while killed < kills:
        rounds += 1
        assert rounds < 4 * kills + 10
        killed += one_round(tmp_path / f"round{rounds}", backend, rng, kills - killed)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_kill_9_at_random_points_loses_nothing(tmp_path: Path, backend: str) -> None:
    crash_and_resume(tmp_path, backend, kills=4, seed=1)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_kill_9_thirty_times_loses_nothing(tmp_path: Path, backend: str) -> None:
    crash_and_resume(tmp_path, backend, kills=30, seed=2)
