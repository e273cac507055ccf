"""Job bodies away from the event loop: local processes and a Dask LocalCluster.

Three measurements, in one run, on whatever machine runs it::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_dask.py [--quick] [--backend trio]

1. ``cpu``: 200 jobs of 50 ms of pure-Python CPU work each, in the event loop, in a
   pool of local processes (``jg.ProcessExecutor(2)``), and on a 2-worker LocalCluster
   (``DaskExecutor``); the speed-up should approach the number of cores.
2. ``overhead``: 10,000 no-op jobs on the cluster through jobgraph, against raw Dask
   (``client.map`` + ``client.gather``) on the same cluster: per-task cost and ratio.
3. ``shard``: a fan-out of 2,000 no-op jobs, as two nested schedulers of 1,000 jobs each
   sent whole to the two workers (``jobgraph.dask.Shard``), against the same 2,000 jobs
   sent one by one.

Cluster start-up is not timed (it is reported on its own). ``--quick`` divides the sizes
by 10.
"""

from __future__ import annotations

import argparse
import os
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


async def timed_run(scheduler: jg.Scheduler) -> float:
    start = time.perf_counter()
    ok = await scheduler.run()
    elapsed = time.perf_counter() - start
    if not ok:
        raise RuntimeError(scheduler.why())
    return elapsed


async def bench_cpu(n: int, ms: float, executor: DaskExecutor) -> list[tuple[str, float]]:
    rows = []
    jobs = [jg.Job(burn_async, ms) for _ in range(n)]
    rows.append(("event loop", await timed_run(jg.Scheduler(*jobs))))
    processes = jg.ProcessExecutor(max_workers=2)
    async with processes.session():
        # warm the pool (process start-up is not what is measured)
        await timed_run(jg.Scheduler(*[jg.Job(noop, executor=processes) for _ in range(2)]))
        jobs = [jg.Job(burn, ms, executor=processes) for _ in range(n)]
        rows.append(("local processes (2)", await timed_run(jg.Scheduler(*jobs))))
    jobs = [jg.Job(burn, ms, executor=executor) for _ in range(n)]
    rows.append(("LocalCluster (2 workers)", await timed_run(jg.Scheduler(*jobs))))
    return rows


async def bench_overhead(n: int, executor: DaskExecutor, address: str) -> dict[str, float]:
    jobs = [jg.Job(noop, i, executor=executor) for i in range(n)]
    jobgraph_time = await timed_run(jg.Scheduler(*jobs))

    def raw() -> float:
        with Client(address) as client:
            start = time.perf_counter()
            futures = client.map(noop, range(n), pure=False)
            client.gather(futures)
            return time.perf_counter() - start

    raw_time = await anyio.to_thread.run_sync(raw)
    return {"jobgraph": jobgraph_time, "raw": raw_time}


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
            base = rows[0][1]
            print(f"### {n_cpu} jobs x 50 ms of pure-Python CPU work\n")
            print("| where | wall time (s) | speed-up |")
            print("| --- | ---: | ---: |")
            for name, elapsed in rows:
                print(f"| {name} | {elapsed:.2f} | {base / elapsed:.2f}x |")
            n_over = 10_000 // scale
            result = await bench_overhead(n_over, executor, cluster.scheduler_address)
            print(f"\n### {n_over} no-op tasks on the cluster\n")
            print("| runner | wall time (s) | per task (µs) | vs raw Dask |")
            print("| --- | ---: | ---: | ---: |")
            for name in ("raw", "jobgraph"):
                elapsed = result[name]
                label = (
                    "raw Dask (client.map + gather)" if name == "raw" else "jobgraph DaskExecutor"
                )
                print(
                    f"| {label} | {elapsed:.2f} | {elapsed / n_over * 1e6:.0f} | "
                    f"{elapsed / result['raw']:.2f}x |"
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
    args = parser.parse_args()
    anyio.run(main, args, backend=args.backend)


if __name__ == "__main__":
    cli()
