"""Time the run journal at N no-op jobs: a run with and without a journal, a resume of a
fully succeeded run, and the journal file's size per job per run.

Usage::

    python benchmarks/bench_journal.py [--size 50000] [--backends asyncio,trio] [--repeat 3]
        [--window 10]

Each measurement runs in a fresh subprocess; the best of ``--repeat`` is kept, of the
wall-clock time and of the CPU time (the process's own: on a shared, busy machine, the
steadier of the two). Targets
(issue 26): build+run with a journal at most 1.25x without; a resume of a fully succeeded
pipeline at most a run's time; at most 300 bytes per job per run. ``--window W`` gives
the scheduler ``jobs_window=W`` (then at most W successes wait for their commit).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

WORKER = """
import json, os, sys, time
import jobgraph as jg

mode, backend, n, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
window = int(sys.argv[5]) or None
done = [0]

async def noop():
    done[0] += 1

t0, c0 = time.perf_counter(), time.process_time()
s = jg.Scheduler(*(jg.Job(noop) for _ in range(n)), label="bench", jobs_window=window)
if mode == "plain":
    ok = jg.run(s, backend=backend)
elif mode == "journal":
    ok = jg.run(s, backend=backend, journal=path)
else:
    ok = jg.run(s, backend=backend, journal=path, resume=True)
t1, c1 = time.perf_counter(), time.process_time()
assert ok
print(json.dumps({"seconds": t1 - t0, "cpu": c1 - c0, "ran": done[0]}))
"""


def one(mode: str, backend: str, n: int, path: str, window: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", WORKER, mode, backend, str(n), path, str(window)],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=50000)
    parser.add_argument("--backends", default="asyncio,trio")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--window", type=int, default=0, help="jobs_window (0: none)")
    args = parser.parse_args(argv)
    print(
        f"load average {os.getloadavg()}, {os.cpu_count()} CPUs, N={args.size}, "
        f"jobs_window={args.window or None}, best of {args.repeat}"
    )
    for backend in args.backends.split(","):
        best: dict[str, float] = {}
        cpu: dict[str, float] = {}
        size = 0.0
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as directory:
                path = os.path.join(directory, "runs.db")
                for mode in ("plain", "journal", "resume"):
                    result = one(mode, backend, args.size, path, args.window)
                    best[mode] = min(best.get(mode, float("inf")), result["seconds"])
                    cpu[mode] = min(cpu.get(mode, float("inf")), result["cpu"])
                    if mode == "resume":
                        assert result["ran"] == 0, result
                size = sum(
                    os.path.getsize(os.path.join(directory, name))
                    for name in os.listdir(directory)
                    if name.startswith("runs.db")
                )
        per_job = size / args.size / 2  # two runs: the first, and the resume
        ratio = best["journal"] / best["plain"]
        print(
            f"{backend:8} build+run {best['plain']:.3f}s, with a journal {best['journal']:.3f}s "
            f"({ratio:.2f}x, target <= 1.25x), resume {best['resume']:.3f}s "
            f"({best['resume'] / best['journal']:.2f}x a journaled run, target <= 1), "
            f"file {per_job:.0f} bytes/job/run (target <= 300)"
        )
        print(
            f"{'':8} CPU: build+run {cpu['plain']:.3f}s, with a journal {cpu['journal']:.3f}s "
            f"({cpu['journal'] / cpu['plain']:.2f}x), resume {cpu['resume']:.3f}s "
            f"({cpu['resume'] / cpu['journal']:.2f}x a journaled run)"
        )
    print(f"load average {os.getloadavg()} at the end, {time.strftime('%H:%M:%S')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
