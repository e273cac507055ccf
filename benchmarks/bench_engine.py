"""Time the jobgraph engine on graphs of N no-op jobs, against a floor and asynciojobs.

Usage::

    python benchmarks/bench_engine.py [--sizes 1000,2000,10000] [--shapes flat,chain,dag,window]
                                      [--runners jobgraph-asyncio,floor-asyncio,...]
                                      [--repeat 3] [--timeout 600] [--quick] [--json out.json]
                                      [--baseline-src /path/to/other/checkout/src]

Every measurement runs in a fresh subprocess (this same file, with ``--worker``), so memory and
GC state do not leak from one measurement to the next. The worker builds the graph (timed on its
own), then times only the run; the parent keeps the best of ``--repeat`` workers and prints one
table per shape, a linearity section and a list of targets (PASS/FAIL, never an exit code).

Runners:

* ``jobgraph-asyncio`` / ``jobgraph-trio``: ``jg.run(jg.Scheduler(*jobs), backend=...)``;
* ``floor-asyncio`` / ``floor-trio``: a minimal hand-written anyio DAG runner, one task per job
  that awaits one ``anyio.Event`` per requirement, runs the no-op and sets its own event (the
  ``window`` shape adds an ``anyio.CapacityLimiter(10)``): the cost of anyio itself;
* ``journal-asyncio`` / ``journal-trio``: as ``jobgraph-*``, recording the run in a journal
  (``jg.run(..., journal=path)``, a fresh file in a temporary directory); only when asked
  with ``--runners`` (``benchmarks/bench_journal.py`` times resume and the file's size);
* ``asynciojobs``: the original library (asyncio only), when it is importable;
* ``compat-asyncio`` / ``compat-trio``: the drop-in ``jobgraph.compat.asynciojobs``, its jobs
  built from coroutine objects as asynciojobs users do; ``scheduler.run()`` (asyncio), or
  ``await scheduler.co_run()`` under ``trio.run``.

``--baseline-src DIR`` times a second source tree in the same run: each runner of this tree
(``jobgraph-*``, ``compat-*``) selected gets an ``@base`` twin (``jobgraph-asyncio@base``...)
whose worker processes import jobgraph from ``DIR`` (put first on ``PYTHONPATH``), and a
side-by-side section compares each runner with its twin. The repeats go round all runners,
so noise hits both trees alike.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import io
import itertools
import json
import math
import os
import platform
import random
import resource
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

SHAPES = ("flat", "chain", "dag", "window")
# also the order of the rows in the tables, whatever the order given on the command line
RUNNERS = (
    "floor-asyncio",
    "jobgraph-asyncio",
    "compat-asyncio",
    "asynciojobs",
    "floor-trio",
    "jobgraph-trio",
    "compat-trio",
    "journal-asyncio",
    "journal-trio",
)
# timed only when named in --runners
OPT_IN_RUNNERS = ("journal-asyncio", "journal-trio")
DEFAULT_SIZES = (1000, 2000, 10000, 20000, 50000, 100000)
QUICK_SIZES = (1000, 2000, 10000, 20000)
WINDOW = 10  # jobs_window of the "window" shape
DAG_SEED = 20240611
DAG_FANIN = 3  # requirements per job in the "dag" shape (fewer in its first layers)

# which floor a runner is compared with (same backend)
FLOOR_OF = {
    "jobgraph-asyncio": "floor-asyncio",
    "jobgraph-trio": "floor-trio",
    "asynciojobs": "floor-asyncio",
    "compat-asyncio": "floor-asyncio",
    "compat-trio": "floor-trio",
    "floor-asyncio": "floor-asyncio",
    "floor-trio": "floor-trio",
    "journal-asyncio": "floor-asyncio",
    "journal-trio": "floor-trio",
}
JOBGRAPH_RUNNERS = ("jobgraph-asyncio", "jobgraph-trio")
# runners that time this source tree (and, with --baseline-src, the baseline's too)
TREE_RUNNERS = (*JOBGRAPH_RUNNERS, "compat-asyncio", "compat-trio")
BASE_SUFFIX = "@base"  # a runner timed on the --baseline-src tree
BASE_RUNNERS = tuple(r + BASE_SUFFIX for r in TREE_RUNNERS)
# the drop-in and the native runner it is compared with (same backend)
NATIVE_OF = {"compat-asyncio": "jobgraph-asyncio", "compat-trio": "jobgraph-trio"}
RESULT_TAG = "BENCH-RESULT "

# a graph spec: for each job (in topological order), the indices of the jobs it requires
Spec = list[list[int]]


# --------------------------------------------------------------------------- graph shapes


def make_spec(shape: str, n: int) -> Spec:
    """The requirements of each of the ``n`` jobs of ``shape``, by index (deterministic)."""
    if shape in ("flat", "window"):
        return [[] for _ in range(n)]
    if shape == "chain":
        return [[]] + [[i - 1] for i in range(1, n)]
    if shape == "dag":
        return _layered_dag(n)
    raise ValueError(f"unknown shape {shape!r}")


def _layered_dag(n: int) -> Spec:
    """A random layered DAG: layers of ~sqrt(n) jobs; each job outside the first layer
    requires one job of the previous layer and DAG_FANIN - 1 others drawn from all earlier
    layers (all distinct), so the graph is ~sqrt(n) deep and every layer depends on the last."""
    rng = random.Random(DAG_SEED + n)
    width = max(1, math.isqrt(n))
    spec: Spec = []
    layer_start = 0  # first index of the current layer
    prev_start = 0  # first index of the previous layer
    for i in range(n):
        if i - layer_start == width:
            prev_start, layer_start = layer_start, i
        if layer_start == 0:
            spec.append([])
            continue
        reqs = {rng.randrange(prev_start, layer_start)}
        want = min(DAG_FANIN, layer_start)
        while len(reqs) < want:
            reqs.add(rng.randrange(layer_start))
        spec.append(sorted(reqs))
    return spec


# --------------------------------------------------------------------------- the jobs

_DONE = [0]  # how many no-op jobs ran: checked after each run, so a runner cannot skip jobs


async def noop() -> None:
    _DONE[0] += 1


# --------------------------------------------------------------------------- runners
# A runner is a function build(spec, window) -> run, where run() runs the whole graph
# synchronously (event loop included) and returns True on success.

Run = Callable[[], bool]


def build_jobgraph(spec: Spec, window: int | None, backend: str, journal: str | None = None) -> Run:
    import jobgraph as jg

    jobs: list[Any] = []
    for reqs in spec:
        jobs.append(jg.Job(noop, requires=[jobs[r] for r in reqs] if reqs else None))
    scheduler = jg.Scheduler(*jobs, jobs_window=window)

    def run() -> bool:
        if journal is not None:
            return bool(jg.run(scheduler, backend=backend, journal=journal))
        return bool(jg.run(scheduler, backend=backend))

    return run


def build_floor(spec: Spec, window: int | None, backend: str) -> Run:
    import anyio

    nodes = [tuple(reqs) for reqs in spec]

    async def main() -> bool:
        events = [anyio.Event() for _ in nodes]
        limiter = anyio.CapacityLimiter(window) if window else None

        async def one(index: int, reqs: tuple[int, ...]) -> None:
            for r in reqs:
                await events[r].wait()
            if limiter is None:
                await noop()
            else:
                async with limiter:
                    await noop()
            events[index].set()

        async with anyio.create_task_group() as tg:
            for index, reqs in enumerate(nodes):
                tg.start_soon(one, index, reqs)
        return True

    def run() -> bool:
        return anyio.run(main, backend=backend)

    return run


def build_asynciojobs(spec: Spec, window: int | None) -> Run:
    from asynciojobs import Job, Scheduler

    jobs: list[Any] = []
    for reqs in spec:
        jobs.append(Job(noop(), required=[jobs[r] for r in reqs] if reqs else None))
    scheduler = Scheduler(*jobs, jobs_window=window)

    def run() -> bool:
        # asynciojobs may print feedback; keep the worker's stdout for the result line
        with contextlib.redirect_stdout(io.StringIO()):
            return bool(scheduler.run())

    return run


def build_compat(spec: Spec, window: int | None, backend: str) -> Run:
    from jobgraph.compat.asynciojobs import Job, Scheduler

    jobs: list[Any] = []
    for reqs in spec:
        jobs.append(Job(noop(), required=[jobs[r] for r in reqs] if reqs else None))
    scheduler = Scheduler(*jobs, jobs_window=window)
    if backend == "asyncio":
        return scheduler.run

    def run() -> bool:
        import trio

        return bool(trio.run(scheduler.co_run))

    return run


def build(runner: str, spec: Spec, window: int | None) -> Run:
    runner = runner.removesuffix(BASE_SUFFIX)  # the tree is chosen by the worker's PYTHONPATH
    if runner == "jobgraph-asyncio":
        return build_jobgraph(spec, window, "asyncio")
    if runner == "jobgraph-trio":
        return build_jobgraph(spec, window, "trio")
    if runner in ("journal-asyncio", "journal-trio"):
        import atexit
        import shutil
        import tempfile

        directory = tempfile.mkdtemp(prefix="bench-journal-")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        return build_jobgraph(
            spec, window, runner.removeprefix("journal-"), os.path.join(directory, "runs.db")
        )
    if runner == "floor-asyncio":
        return build_floor(spec, window, "asyncio")
    if runner == "floor-trio":
        return build_floor(spec, window, "trio")
    if runner == "asynciojobs":
        return build_asynciojobs(spec, window)
    if runner == "compat-asyncio":
        return build_compat(spec, window, "asyncio")
    if runner == "compat-trio":
        return build_compat(spec, window, "trio")
    raise ValueError(f"unknown runner {runner!r}")


def preload(runner: str) -> None:
    """Import what the runner needs before the memory baseline is taken."""
    runner = runner.removesuffix(BASE_SUFFIX)
    import anyio
    import anyio.lowlevel

    if runner.endswith("-trio"):
        import trio  # noqa: F401
    else:
        import asyncio  # noqa: F401
    if runner.startswith(("jobgraph", "journal")):
        importlib.import_module("jobgraph")
    elif runner.startswith("compat"):
        importlib.import_module("jobgraph.compat.asynciojobs")
    elif runner == "asynciojobs":
        import asynciojobs  # noqa: F401

    async def warm() -> None:
        await anyio.lowlevel.checkpoint()

    # a first event loop loads the backend's lazily imported modules
    anyio.run(warm, backend="trio" if runner.endswith("-trio") else "asyncio")


# --------------------------------------------------------------------------- worker


def current_rss_kib() -> float:
    """Resident memory now, in KiB (Linux /proc; elsewhere the peak so far, an upper bound)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1024
    except (OSError, ValueError, IndexError):
        return peak_rss_kib()


def peak_rss_kib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform == "darwin" else float(peak)  # bytes on macOS


def worker(runner: str, shape: str, n: int) -> dict[str, Any]:
    """One measurement (called in a fresh subprocess): build, then run, the graph once."""
    window = WINDOW if shape == "window" else None
    spec = make_spec(shape, n)
    preload(runner)
    gc.collect()
    rss_before = current_rss_kib()
    t0 = time.perf_counter()
    run = build(runner, spec, window)
    t1 = time.perf_counter()
    gc.collect()
    _DONE[0] = 0
    t2 = time.perf_counter()
    ok = run()
    t3 = time.perf_counter()
    peak = peak_rss_kib()
    if ok is not True:
        raise RuntimeError(f"run() returned {ok!r}, expected True")
    if _DONE[0] != n:
        raise RuntimeError(f"{_DONE[0]} of the {n} jobs ran")
    source = sys.modules["jobgraph"].__file__ if "jobgraph" in sys.modules else None
    return {
        "jobgraph_file": source,
        "build_s": t1 - t0,
        "run_s": t3 - t2,
        "peak_kib": max(0.0, peak - rss_before),
    }


def worker_main(runner: str, shape: str, n: int) -> int:
    try:
        result = worker(runner, shape, n)
    except BaseException as exc:  # report anything, KeyboardInterrupt included
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(RESULT_TAG + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


# --------------------------------------------------------------------------- parent


@dataclass
class Cell:
    """The measurements of one runner on one shape and size (best of the repeats)."""

    shape: str
    n: int
    runner: str
    status: str = "ok"  # ok, error, timeout, skipped
    run_s: float | None = None
    build_s: float | None = None
    peak_kib: float | None = None
    runs_s: list[float] = field(default_factory=list)
    error: str | None = None
    details: str | None = None  # the worker's traceback or stderr

    @property
    def run_us(self) -> float | None:
        return None if self.run_s is None else self.run_s / self.n * 1e6

    @property
    def build_us(self) -> float | None:
        return None if self.build_s is None else self.build_s / self.n * 1e6

    @property
    def total_us(self) -> float | None:
        if self.run_us is None or self.build_us is None:
            return None
        return self.run_us + self.build_us

    @property
    def peak_kib_per_job(self) -> float | None:
        return None if self.peak_kib is None else self.peak_kib / self.n


def measure_once(
    runner: str, shape: str, n: int, timeout: float, baseline_src: str | None = None
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        "--runners",
        runner,
        "--shapes",
        shape,
        "--sizes",
        str(n),
    ]
    env = None
    if runner.endswith(BASE_SUFFIX):
        assert baseline_src is not None
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (baseline_src, os.environ.get("PYTHONPATH")) if p
        )
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
    except subprocess.TimeoutExpired:
        return {"timeout": True}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            result: dict[str, Any] = json.loads(line[len(RESULT_TAG) :])
            if "error" in result:
                result["details"] = proc.stderr.strip()
            elif baseline_src is not None and runner.removesuffix(BASE_SUFFIX) in TREE_RUNNERS:
                # make sure each tree really was the one timed
                source = os.path.realpath(result.get("jobgraph_file") or "")
                inside = source.startswith(os.path.realpath(baseline_src) + os.sep)
                if inside != runner.endswith(BASE_SUFFIX):
                    return {"error": f"{runner} imported jobgraph from {source}"}
            return result
    return {
        "error": f"worker exited with code {proc.returncode} and no result",
        "details": (proc.stderr.strip() or proc.stdout.strip())[-4000:],
    }


def _best(old: float | None, new: float) -> float:
    return new if old is None else min(old, new)


def measure(
    runners: Sequence[str],
    shapes: Sequence[str],
    sizes: Sequence[int],
    repeat: int,
    timeout: float,
    baseline_src: str | None = None,
) -> list[Cell]:
    cells: list[Cell] = []
    total = len(shapes) * len(sizes) * len(runners)
    done = 0
    for shape in shapes:
        timed_out: set[str] = set()  # runners that timed out at a smaller size of this shape
        for n in sizes:
            row = {runner: Cell(shape, n, runner) for runner in runners}
            for runner in runners:
                if runner in timed_out:
                    row[runner].status = "skipped"
            # the repeats go round the runners, so a slow spell of the machine hits them all
            for _ in range(repeat):
                for runner in runners:
                    cell = row[runner]
                    if cell.status != "ok":
                        continue
                    result = measure_once(runner, shape, n, timeout, baseline_src)
                    if result.get("timeout"):
                        cell.status = "timeout"
                        timed_out.add(runner)
                    elif "error" in result:
                        cell.status = "error"
                        cell.error = str(result["error"])
                        cell.details = result.get("details")
                    else:
                        cell.runs_s.append(result["run_s"])
                        cell.run_s = min(cell.runs_s)
                        cell.build_s = _best(cell.build_s, result["build_s"])
                        cell.peak_kib = _best(cell.peak_kib, result["peak_kib"])
            for runner in runners:
                cell = row[runner]
                done += 1
                what = f"{cell.run_us:.2f} µs/job" if cell.run_us is not None else cell.status
                if cell.error:
                    what += f" ({cell.error})"
                print(f"[{done}/{total}] {shape} N={n} {runner}: {what}", file=sys.stderr)
                cells.append(cell)
    return cells


# --------------------------------------------------------------------------- reports


def _lookup(cells: Sequence[Cell]) -> dict[tuple[str, int, str], Cell]:
    return {(c.shape, c.n, c.runner): c for c in cells}


def _ratio(a: Cell | None, b: Cell | None, *, total: bool = False) -> float | None:
    """The run-time ratio a/b; with ``total``, that of build + run."""
    if a is None or b is None or a.run_s is None or b.run_s is None or b.run_s == 0:
        return None
    if not total:
        return a.run_s / b.run_s
    if a.build_s is None or b.build_s is None:
        return None
    return (a.run_s + a.build_s) / (b.run_s + b.build_s)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join(
        h.rjust(w) if i != 1 else h.ljust(w)
        for i, (h, w) in enumerate(zip(header, widths, strict=True))
    )
    print(line.rstrip())
    print("-" * len(line))
    for row in rows:
        print(
            "  ".join(
                x.rjust(w) if i != 1 else x.ljust(w)
                for i, (x, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )


def report_tables(
    cells: Sequence[Cell], shapes: Sequence[str], sizes: Sequence[int], runners: Sequence[str]
) -> None:
    by_key = _lookup(cells)
    header = [
        "N",
        "runner",
        "run µs/job",
        "vs floor",
        "build µs/job",
        "build+run µs/job",
        "peak KiB/job",
    ]
    for shape in shapes:
        window = f" (jobs_window={WINDOW})" if shape == "window" else ""
        print(f"\n=== shape: {shape}{window}")
        rows: list[list[str]] = []
        for n in sizes:
            for runner in runners:
                cell = by_key[(shape, n, runner)]
                if cell.status != "ok":
                    rows.append([str(n), runner, cell.status, "", "", "", ""])
                    continue
                floor = by_key.get((shape, n, FLOOR_OF[runner.removesuffix(BASE_SUFFIX)]))
                ratio = _ratio(cell, floor)
                rows.append(
                    [
                        str(n),
                        runner,
                        _fmt(cell.run_us, ".2f"),
                        "" if runner.startswith("floor") else _fmt(ratio, ".2f") + "x",
                        _fmt(cell.build_us, ".2f"),
                        _fmt(cell.total_us, ".2f"),
                        _fmt(cell.peak_kib_per_job, ".3f"),
                    ]
                )
        print_table(rows, header)


def report_side_by_side(
    cells: Sequence[Cell], shapes: Sequence[str], sizes: Sequence[int], runners: Sequence[str]
) -> None:
    """Each runner of this tree against its ``@base`` twin: best-of run times and their ratio."""
    pairs = [(r, r + BASE_SUFFIX) for r in TREE_RUNNERS if r + BASE_SUFFIX in runners]
    if not pairs:
        return
    by_key = _lookup(cells)
    print(
        "\n=== side by side with the baseline tree: run µs/job (best of the repeats); "
        "ratio = this tree / baseline (< 1 faster, > 1 slower)"
    )
    header = ["shape", "N"]
    for runner, base in pairs:
        header += [runner, base, "ratio"]
    rows: list[list[str]] = []
    for shape in shapes:
        for n in sizes:
            row = [shape, str(n)]
            for runner, base in pairs:
                mine, theirs = by_key[(shape, n, runner)], by_key[(shape, n, base)]
                ratio = _ratio(mine, theirs)
                row += [
                    _fmt(mine.run_us, ".2f") if mine.status == "ok" else mine.status,
                    _fmt(theirs.run_us, ".2f") if theirs.status == "ok" else theirs.status,
                    _fmt(ratio, ".2f"),
                ]
            rows.append(row)
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
    for i, row in enumerate([header, *rows]):
        print(
            "  ".join(
                x.ljust(w) if j == 0 else x.rjust(w)
                for j, (x, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if i == 0:
            print("-" * (sum(widths) + 2 * (len(widths) - 1)))


def report_linearity(
    cells: Sequence[Cell], shapes: Sequence[str], sizes: Sequence[int], runners: Sequence[str]
) -> None:
    by_key = _lookup(cells)
    pairs = [(a, b) for a, b in itertools.pairwise(sizes) if b == 2 * a]
    print(
        "\n=== linearity: per-job run time at 2N / per-job run time at N "
        "(1.00 = linear, > 1 = super-linear)"
    )
    if not pairs:
        print("(no consecutive sizes are exact doublings)")
        return
    header = ["shape", "runner", *(f"{a}→{b}" for a, b in pairs)]
    rows: list[list[str]] = []
    for shape in shapes:
        for runner in runners:
            row = [shape, runner]
            for a, b in pairs:
                ratio = _ratio(by_key[(shape, b, runner)], by_key[(shape, a, runner)])
                row.append("-" if ratio is None else f"{ratio / 2:.2f}")
            rows.append(row)
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
    for i, row in enumerate([header, *rows]):
        print(
            "  ".join(
                x.ljust(w) if j < 2 else x.rjust(w)
                for j, (x, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if i == 0:
            print("-" * (sum(widths) + 2 * (len(widths) - 1)))


def _worst(
    cells: Sequence[Cell],
    shape: str,
    runner: str,
    other: str,
    sizes: Sequence[int],
    timed_out_counts_as_slow: bool,
    total: bool = False,
) -> tuple[str, float | None, int | None]:
    """The worst run-time (with ``total``: build + run) ratio runner/other over sizes:
    (note, ratio, n)."""
    by_key = _lookup(cells)
    worst: tuple[float, int] | None = None
    notes: list[str] = []
    for n in sizes:
        a, b = by_key.get((shape, n, runner)), by_key.get((shape, n, other))
        if a is None or b is None:
            continue
        if a.status != "ok":
            return f"{runner} {a.status} at N={n}", math.inf, n
        if b.status in ("timeout", "skipped") and timed_out_counts_as_slow:
            notes.append(f"{other} {b.status} at N={n}")
            continue
        ratio = _ratio(a, b, total=total)
        if ratio is None:
            continue
        if worst is None or ratio > worst[0]:
            worst = (ratio, n)
    note = "; ".join(notes)
    if worst is None:
        return note, None, None
    return note, worst[0], worst[1]


def report_targets(
    cells: Sequence[Cell], shapes: Sequence[str], sizes: Sequence[int], runners: Sequence[str]
) -> list[dict[str, Any]]:
    print("\n=== targets (speed is measured, not asserted: these never change the exit code)")
    results: list[dict[str, Any]] = []

    def verdict(name: str, detail: str, *, passed: bool | None) -> None:
        status = "n/a " if passed is None else ("PASS" if passed else "FAIL")
        print(f"{status}  {name}: {detail}")
        results.append({"target": name, "status": status.strip(), "detail": detail})

    def compare(
        name: str,
        shape: str,
        runner: str,
        other: str,
        limit: float,
        sizes_: Sequence[int],
        strict: bool,
        total: bool = False,
    ) -> None:
        if runner not in runners or other not in runners:
            verdict(name, passed=None, detail=f"{runner} or {other} not run")
            return
        if not sizes_:
            verdict(name, passed=None, detail="no size in range")
            return
        note, ratio, n = _worst(
            cells, shape, runner, other, sizes_, other == "asynciojobs", total=total
        )
        if ratio is None:
            verdict(name, passed=bool(note) or None, detail=note or "no data")
            return
        passed = ratio < limit if strict else ratio <= limit
        detail = f"worst {ratio:.2f}x at N={n}" if math.isfinite(ratio) else note
        if note and math.isfinite(ratio):
            detail += f" ({note})"
        verdict(name, passed=passed, detail=detail)

    for runner in JOBGRAPH_RUNNERS:
        for shape in shapes:
            compare(
                f"{runner} ≤ 1.5x {FLOOR_OF[runner]} on {shape}",
                shape,
                runner,
                FLOOR_OF[runner],
                1.5,
                sizes,
                strict=False,
            )
    big = [n for n in sizes if n >= 10000]
    for shape in ("chain", "dag"):
        if shape in shapes:
            compare(
                f"jobgraph-asyncio faster than asynciojobs on {shape}, N ≥ 10000",
                shape,
                "jobgraph-asyncio",
                "asynciojobs",
                1.0,
                big,
                strict=True,
            )
    for shape in ("flat", "window"):
        if shape in shapes:
            compare(
                f"jobgraph-asyncio ≤ 1.2x asynciojobs on {shape}",
                shape,
                "jobgraph-asyncio",
                "asynciojobs",
                1.2,
                sizes,
                strict=False,
            )
    # the drop-in: build + run, since its users pay for both
    for runner, native in NATIVE_OF.items():
        for shape in shapes:
            compare(
                f"{runner} ≤ 1.3x {native} on {shape} (build + run)",
                shape,
                runner,
                native,
                1.3,
                sizes,
                strict=False,
                total=True,
            )
    for shape in shapes:
        compare(
            f"compat-asyncio faster than asynciojobs on {shape} (build + run)",
            shape,
            "compat-asyncio",
            "asynciojobs",
            1.0,
            sizes,
            strict=True,
            total=True,
        )
    by_key = _lookup(cells)
    for runner in JOBGRAPH_RUNNERS:
        for shape in shapes:
            name = f"(stretch) {runner} ≤ 15 µs/job and < 1 KiB/job on {shape} at N=50000"
            cell = by_key.get((shape, 50000, runner))
            if cell is None:
                verdict(
                    name,
                    passed=None,
                    detail="N=50000 not measured" if runner in runners else "not run",
                )
            elif cell.status != "ok" or cell.run_us is None or cell.peak_kib_per_job is None:
                verdict(name, passed=False, detail=cell.status)
            else:
                verdict(
                    name,
                    passed=cell.run_us <= 15 and cell.peak_kib_per_job < 1,
                    detail=f"{cell.run_us:.2f} µs/job, {cell.peak_kib_per_job:.3f} KiB/job",
                )
    return results


def report_errors(cells: Sequence[Cell]) -> None:
    failed = [c for c in cells if c.status == "error"]
    if not failed:
        return
    print("\n=== errors")
    shown: set[str] = set()
    for cell in failed:
        print(f"{cell.shape} N={cell.n} {cell.runner}: {cell.error}")
        if cell.details and cell.details not in shown:
            shown.add(cell.details)
            print("    " + cell.details.replace("\n", "\n    "))


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("jobgraph", "anyio", "trio", "asynciojobs"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "absent"
    return found


# --------------------------------------------------------------------------- command line


def _csv(text: str, allowed: Sequence[str] | None = None) -> list[str]:
    items = [x.strip() for x in text.split(",") if x.strip()]
    if allowed is not None:
        bad = [x for x in items if x not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {bad}, choose among {list(allowed)}")
    return items


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x.replace("_", "")) for x in _csv(text)]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError("sizes must be positive")
    return sorted(set(sizes))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=None,
        help=f"comma-separated job counts (default {DEFAULT_SIZES})",
    )
    parser.add_argument(
        "--shapes",
        type=lambda t: _csv(t, SHAPES),
        default=list(SHAPES),
        help=f"comma-separated among {','.join(SHAPES)}",
    )
    parser.add_argument(
        "--runners",
        type=lambda t: _csv(t, RUNNERS + BASE_RUNNERS),
        default=None,
        help=f"comma-separated among {','.join(RUNNERS)} (default: all, "
        "asynciojobs only if importable)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="fresh-process runs per measurement, the best is kept (default 3)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds allowed to one measurement process (default 600)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"sizes {','.join(map(str, QUICK_SIZES))} unless --sizes is given",
    )
    parser.add_argument("--json", metavar="PATH", help="also dump the raw numbers to PATH")
    parser.add_argument(
        "--baseline-src",
        metavar="DIR",
        help="also time the jobgraph found in DIR (a checkout's src/), as runners "
        f"{' and '.join(BASE_RUNNERS)}",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker_main(args.runners[0], args.shapes[0], args.sizes[0])

    sizes = args.sizes or list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    known = RUNNERS + BASE_RUNNERS if args.baseline_src else RUNNERS
    if args.baseline_src and not os.path.isdir(os.path.join(args.baseline_src, "jobgraph")):
        print(f"--baseline-src {args.baseline_src}: no jobgraph package there", file=sys.stderr)
        return 2
    # a runner of this tree brings its @base twin along
    wanted = None
    if args.runners is not None:
        wanted = set(args.runners)
        if args.baseline_src:
            wanted |= {r + BASE_SUFFIX for r in args.runners if r in TREE_RUNNERS}
    runners = [r for r in known if (r in wanted if wanted is not None else r not in OPT_IN_RUNNERS)]
    if args.runners is not None and not args.baseline_src:
        bad = [r for r in args.runners if r.endswith(BASE_SUFFIX)]
        if bad:
            print(f"{bad} need --baseline-src", file=sys.stderr)
            return 2
    if "asynciojobs" in runners and importlib.util.find_spec("asynciojobs") is None:
        print("asynciojobs is not importable: skipping it", file=sys.stderr)
        runners.remove("asynciojobs")
    shapes: list[str] = list(dict.fromkeys(args.shapes))

    info = versions()
    print("jobgraph engine benchmark: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    print(
        f"{platform.platform()}, {os.cpu_count()} CPUs; best of {args.repeat} fresh "
        f"processes per cell; timeout {args.timeout:g}s per process",
        flush=True,
    )

    cells = measure(runners, shapes, sizes, args.repeat, args.timeout, args.baseline_src)
    report_tables(cells, shapes, sizes, runners)
    report_side_by_side(cells, shapes, sizes, runners)
    report_linearity(cells, shapes, sizes, runners)
    targets = report_targets(cells, shapes, sizes, runners)
    report_errors(cells)

    if args.json:
        data = {
            "versions": info,
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "repeat": args.repeat,
            "timeout": args.timeout,
            "window": WINDOW,
            "baseline_src": args.baseline_src,
            "cells": [
                {
                    **asdict(c),
                    "run_us_per_job": c.run_us,
                    "build_us_per_job": c.build_us,
                    "peak_kib_per_job": c.peak_kib_per_job,
                }
                for c in cells
            ],
            "targets": targets,
        }
        with open(args.json, "w") as f:
            json.dump(data, f, indent=2)
        print(f"\nraw numbers written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
