"""Job bodies away from the event loop: local processes and a Dask LocalCluster.

Three measurements, in one run, on whatever machine runs it::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_dask.py [--quick] [--backend trio]

1. ``cpu``: 200 jobs of 50 ms of pure-Python CPU work each, in the event loop, in a
   pool of local processes (``jg.ProcessExecutor(2)``), and on a 2-worker LocalCluster
   (``DaskExecutor``); the speed-up should approach the number of cores.
2. ``overhead``: 10,000 no-op jobs on the cluster through jobgraph, against raw Dask
   (``client.map`` + ``client.gather``) on the same cluster: per-task cost and ratio,
   in ``--rounds`` pairs run back to back (raw first every other round), so that both
   runners of a pair meet the same load on a shared machine.
3. ``shard``: a fan-out of 2,000 no-op jobs, as two nested schedulers of 1,000 jobs each
   sent whole to the two workers (``jobgraph.dask.Shard``), against the same 2,000 jobs
   sent one by one.

Cluster start-up is not timed (it is reported on its own), nor is the start of the
process pool. On Linux, the CPU rows also say how many cores the benchmark's processes
used on average, and how many other processes took meanwhile (from ``/proc``): on a
shared machine, the speed-up is bounded by the cores left. ``--quick`` divides the sizes
by 10. Each table gives the load average (1, 5, 15 minutes) when it was measured.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import anyio
from distributed import Client, LocalCluster

import dask
import jobgraph as jg
from jobgraph.dask import DaskExecutor, Shard


def burn(milliseconds: float) -> int:
    """Pure-Python CPU work for about ``milliseconds`` (calibrated below)."""
    n = int(milliseconds * LOOPS_PER_MS)
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


async def burn_async(milliseconds: float) -> int:
    return burn(milliseconds)


def noop(x: int = 0) -> int:
    return x


LOOPS_PER_MS = 1.0
LABELS = {"raw": "raw Dask (client.map + gather)", "jobgraph": "jobgraph DaskExecutor"}


def calibrate() -> float:
    global LOOPS_PER_MS
    LOOPS_PER_MS = 1.0
    n = 200_000
    start = time.perf_counter()
    LOOPS_PER_MS = 1.0
    burn(n)  # n loops
    elapsed = time.perf_counter() - start
    LOOPS_PER_MS = n / (elapsed * 1000)
    os.environ["JG_BENCH_LOOPS_PER_MS"] = str(LOOPS_PER_MS)
    return LOOPS_PER_MS


if "JG_BENCH_LOOPS_PER_MS" in os.environ:  # in worker processes
    LOOPS_PER_MS = float(os.environ["JG_BENCH_LOOPS_PER_MS"])


def load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


async def timed_run(scheduler: jg.Scheduler) -> float:
    start = time.perf_counter()
    ok = await scheduler.run()
    elapsed = time.perf_counter() - start
    if not ok:
        raise RuntimeError(scheduler.why())
    return elapsed


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy so far (Linux: /proc/stat)."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            values = [int(value) for value in stat.readline().split()[1:9]]
    except OSError:
        return 0.0
    return (sum(values) - values[3] - values[4]) / _TICK  # all but idle and iowait


def tree_cpu() -> float:
    """CPU seconds used so far by this process and its descendants (Linux: /proc)."""
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                text = stat.read()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        used[int(entry)] = (int(fields[11]) + int(fields[12])) / _TICK
    me, total = os.getpid(), 0.0
    for pid, seconds in used.items():
        ancestor, hops = pid, 0
        while ancestor not in (me, 0, 1) and hops < 50:
            ancestor, hops = parents.get(ancestor, 0), hops + 1
        if ancestor == me:
            total += seconds
    return total


class Row:
    """A timed run, with the CPU the benchmark used and what other processes took."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.wall = self.ours = self.others = 0.0

    async def measure(self, scheduler: jg.Scheduler) -> Row:
        busy, mine = machine_busy(), tree_cpu()
        self.wall = await timed_run(scheduler)
        used = tree_cpu() - mine
        self.ours = used / self.wall
        self.others = max(0.0, machine_busy() - busy - used) / self.wall
        return self


async def bench_cpu(n: int, ms: float, executor: DaskExecutor) -> list[Row]:
    rows = []
    jobs = [jg.Job(burn_async, ms) for _ in range(n)]
    rows.append(await Row("event loop").measure(jg.Scheduler(*jobs)))
    processes = jg.ProcessExecutor(max_workers=2)
    async with processes.session():
        # warm the pool (process start-up is not what is measured)
        await timed_run(jg.Scheduler(*[jg.Job(noop, executor=processes) for _ in range(2)]))
        jobs = [jg.Job(burn, ms, executor=processes) for _ in range(n)]
        rows.append(await Row("local processes (2)").measure(jg.Scheduler(*jobs)))
        pids = {job.worker for job in jobs}
        # the pool's own cost per job: no-op jobs
        noops = [jg.Job(noop, executor=processes) for _ in range(10 * n)]
        elapsed = await timed_run(jg.Scheduler(*noops))
        print(
            f"(process pool: {len(pids)} processes ran the {n} jobs; {10 * n} no-op jobs "
            f"took {elapsed:.2f} s, {elapsed / (10 * n) * 1e6:.0f} µs per job)\n"
        )
    jobs = [jg.Job(burn, ms, executor=executor) for _ in range(n)]
    rows.append(await Row("LocalCluster (2 workers)").measure(jg.Scheduler(*jobs)))
    return rows


async def bench_overhead(
    n: int, executor: DaskExecutor, address: str, rounds: int
) -> list[dict[str, float]]:
    """``rounds`` pairs of runs, jobgraph and raw Dask back to back (raw first every other
    round), so that both meet the same load."""

    def raw() -> float:
        with Client(address) as client:
            start = time.perf_counter()
            futures = client.map(noop, range(n), pure=False)
            client.gather(futures)
            return time.perf_counter() - start

    results = []
    for number in range(rounds):
        result: dict[str, float] = {}
        for name in ("raw", "jobgraph") if number % 2 == 0 else ("jobgraph", "raw"):
            used = tree_cpu()
            if name == "raw":
                result["raw"] = await anyio.to_thread.run_sync(raw)
            else:
                jobs = [jg.Job(noop, i, executor=executor) for i in range(n)]
                result["jobgraph"] = await timed_run(jg.Scheduler(*jobs))
            # CPU of the controller, the scheduler and the workers (all in this tree)
            result[f"{name} cpu"] = tree_cpu() - used
        results.append(result)
    return results


async def bench_shard(n: int, executor: DaskExecutor) -> dict[str, float]:
    async def anoop() -> None:
        return None

    halves = [Shard(*[jg.Job(anoop) for _ in range(n // 2)], executor=executor) for _ in range(2)]
    sharded = jg.Scheduler(*halves)
    sharded_time = await timed_run(sharded)
    workers = {half.worker for half in halves}
    assert len(list(sharded.iterate_jobs())) == n
    jobs = [jg.Job(noop, executor=executor) for _ in range(n)]
    one_by_one = await timed_run(jg.Scheduler(*jobs))
    return {"sharded": sharded_time, "one by one": one_by_one, "workers": len(workers)}


async def main(args: argparse.Namespace) -> None:
    scale = 10 if args.quick else 1
    print(f"calibrating: {calibrate():.0f} loops per ms", file=sys.stderr)
    start = time.perf_counter()
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = await anyio.to_thread.run_sync(
            lambda: LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
        )
    startup = time.perf_counter() - start
    try:
        executor = DaskExecutor(address=cluster.scheduler_address)
        async with executor.session():
            await timed_run(jg.Scheduler(*[jg.Job(noop, executor=executor) for _ in range(20)]))
            print(f"\n## backend {args.backend}, {os.cpu_count()} cores")
            print(f"LocalCluster start-up (2 worker processes): {startup:.2f} s\n")
            n_cpu = 200 // scale
            rows = await bench_cpu(n_cpu, 50, executor)
            base = rows[0].wall
            print(f"### {n_cpu} jobs x 50 ms of pure-Python CPU work (load average {load()})\n")
            print(
                "| where | wall time (s) | speed-up | cores used by the benchmark | "
                "cores used by other processes |"
            )
            print("| --- | ---: | ---: | ---: | ---: |")
            for row in rows:
                print(
                    f"| {row.name} | {row.wall:.2f} | {base / row.wall:.2f}x | "
                    f"{row.ours:.2f} | {row.others:.2f} |"
                )
            n_over = 10_000 // scale
            rounds = await bench_overhead(n_over, executor, cluster.scheduler_address, args.rounds)
            print(f"\n### {n_over} no-op tasks on the cluster (load average {load()})\n")
            print(
                "| round | raw Dask (client.map + gather) s | jobgraph DaskExecutor s | "
                "per task raw / jobgraph (µs) | ratio | CPU s raw / jobgraph | CPU ratio |"
            )
            print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            ratios = []
            for number, result in enumerate(rounds, 1):
                ratio = result["jobgraph"] / result["raw"]
                ratios.append(ratio)
                print(
                    f"| {number} | {result['raw']:.2f} | {result['jobgraph']:.2f} | "
                    f"{result['raw'] / n_over * 1e6:.0f} / "
                    f"{result['jobgraph'] / n_over * 1e6:.0f} | {ratio:.2f}x | "
                    f"{result['raw cpu']:.2f} / {result['jobgraph cpu']:.2f} | "
                    f"{result['jobgraph cpu'] / result['raw cpu']:.2f}x |"
                )
            best_raw = min(result["raw"] for result in rounds)
            best_jobgraph = min(result["jobgraph"] for result in rounds)
            print(
                f"\nratio of the medians of the rounds: {statistics.median(ratios):.2f}x; "
                f"of the best times: {best_jobgraph / best_raw:.2f}x"
            )
            n_shard = 2000 // scale
            shard = await bench_shard(n_shard, executor)
            print(f"\n### fan-out of {n_shard} no-op jobs over 2 workers\n")
            print("| how | wall time (s) | per job (µs) |")
            print("| --- | ---: | ---: |")
            for name in ("sharded", "one by one"):
                elapsed = shard[name]
                print(f"| {name} | {elapsed:.2f} | {elapsed / n_shard * 1e6:.0f} |")
            print(f"\n(shards ran on {shard['workers']:.0f} distinct workers)")
    finally:
        await anyio.to_thread.run_sync(cluster.close)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of the overhead pair (default 3)"
    )
    args = parser.parse_args()
    anyio.run(main, args, backend=args.backend)


if __name__ == "__main__":
    cli()
