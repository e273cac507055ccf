"""Services across SSH: calls per second, and pushing a file to many hosts once.

Usage::

    python benchmarks/bench_services.py [--backends asyncio,trio] [--hosts 20]
                                        [--size-mib 10] [--calls 2000]

Measured, per backend, in one run:

* ``in-process no-op``: ``pool.call`` of a method that returns None, in a loop;
* ``remote no-op, sequential``: a Python program on a loopback SSH host calls the same
  method through its job's forwarded socket (``jobgraph_call.Client``, one connection),
  timed by the remote program;
* ``remote no-op, 50 concurrent``: 50 threads of that program, one connection each;
* ``push``: a file of ``--size-mib`` MiB to ``--hosts`` loopback hosts, half of which
  hold it already: ``PushFileService`` (hash once, check remotely, upload the rest)
  against a naive ``Push`` (SFTP) to every host; time and bytes sent from here.

The hosts are ports of the SSH test server (``tests/ssh/_server.py``, asyncssh, one
process, remote forwarding on), on this machine: the server's CPU competes with the
client's, so read the numbers as orders of magnitude and ratios.
"""

# ruff: noqa: ASYNC240 - a benchmark script: blocking file set-up is fine
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
SERVER = ROOT / "tests" / "ssh" / "_server.py"

import jobgraph as jg  # noqa: E402
from jobgraph import services as sv  # noqa: E402
from jobgraph_ssh import Push, RunString, SshJob, SshNode, close_all  # noqa: E402
from jobgraph_ssh.services import PushFileService, host_of  # noqa: E402


class Noop(sv.Service):
    @sv.expose(sv.AllowAny())
    def noop(self) -> None:
        return None


REMOTE = """\
#!/usr/bin/env python3
import json, os, sys, threading, time
sys.path.insert(0, os.path.dirname(os.environ["JOBGRAPH_CALL"]))
import jobgraph_call as jc
calls = int(sys.argv[1])
client = jc.Client()
client.call("Noop", "noop")  # connect
started = time.perf_counter()
for _ in range(calls):
    client.call("Noop", "noop")
sequential = calls / (time.perf_counter() - started)
per_thread = max(1, calls // 50)
barrier = threading.Barrier(50)
def worker():
    mine = jc.Client()
    mine.call("Noop", "noop")
    barrier.wait()
    for _ in range(per_thread):
        mine.call("Noop", "noop")
threads = [threading.Thread(target=worker) for _ in range(50)]
for t in threads:
    t.start()
# the clock starts when the threads are all connected (approximately)
started = time.perf_counter()
for t in threads:
    t.join()
concurrent = 50 * per_thread / (time.perf_counter() - started)
print(json.dumps({"sequential": sequential, "concurrent": concurrent}))
"""


def start_server(hosts: int, directory: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    private, public = directory / "key", directory / "key.pub"
    private.write_bytes(key.export_private_key())
    public.write_bytes(key.export_public_key())
    command = [sys.executable, str(SERVER), "--hosts", str(hosts), "--authorized-keys", str(public)]
    command += ["--stats", str(directory / "stats.json"), "--cwd", str(directory)]
    command += ["--remote-forwarding", "both"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    ready = json.loads(proc.stdout.readline())
    known = directory / "known_hosts"
    known.write_text(
        "".join(
            f"[127.0.0.1]:{port} {host_key}\n"
            for port, host_key in zip(ready["ports"], ready["host_keys"], strict=True)
        )
    )
    return proc, {"ports": ready["ports"], "key": str(private), "known_hosts": str(known)}


def nodes_for(setup: dict[str, Any]) -> list[SshNode]:
    return [
        SshNode(
            "127.0.0.1",
            port=port,
            username="bench",
            keys=[setup["key"]],
            known_hosts=setup["known_hosts"],
        )
        for port in setup["ports"]
    ]


async def in_process(calls: int) -> float:
    async with sv.ServicePool([Noop()]) as pool:
        started = time.perf_counter()
        for _ in range(calls):
            await pool.call("Noop", "noop")
        return calls / (time.perf_counter() - started)


async def remote(node: SshNode, calls: int) -> dict[str, float]:
    pool = sv.ServicePool([Noop()])
    serve = pool.job()
    job = SshJob(
        node,
        RunString(REMOTE, calls, remote_name="bench.py"),
        services=pool,
        requires=serve,
        formatter=jg_quiet(),
    )
    try:
        assert await jg.Scheduler(serve, job).run(), job.exception
    finally:
        await close_all([job])
    result: dict[str, float] = json.loads(job.result()[0].stdout)
    return result


def jg_quiet() -> Any:
    from jobgraph_ssh import CaptureFormatter

    return CaptureFormatter()


async def push(
    nodes: list[SshNode], local: Path, directory: Path
) -> tuple[dict[str, float], dict[str, float]]:
    size = local.stat().st_size
    data = local.read_bytes()
    targets = [directory / "pushed" / f"h{i}" / local.name for i in range(len(nodes))]
    for i, target in enumerate(targets):
        target.parent.mkdir(parents=True, exist_ok=True)
        if i % 2 == 0:  # half the hosts are up to date
            target.write_bytes(data)
            target.chmod(local.stat().st_mode & 0o777)
        elif target.exists():
            target.unlink()
    for node in nodes:
        await node.connect()
    service = PushFileService(nodes)
    async with sv.ServicePool([service]) as pool:
        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for node, target in zip(nodes, targets, strict=True):
                group.start_soon(
                    pool.call,
                    "PushFileService",
                    "push",
                    {"host": host_of(node), "path": str(local), "remote_path": str(target)},
                )
        smart = {"seconds": time.perf_counter() - started, "bytes": service.stats.bytes_sent}
    for target in targets:
        assert target.read_bytes() == data
    naive_targets = [directory / "naive" / f"h{i}" for i in range(len(nodes))]
    jobs = [
        SshJob(node, Push([str(local)], str(target)), formatter=jg_quiet())
        for node, target in zip(nodes, naive_targets, strict=True)
    ]
    started = time.perf_counter()
    assert await jg.Scheduler(*jobs).run()
    naive = {"seconds": time.perf_counter() - started, "bytes": float(size * len(nodes))}
    await close_all(nodes)
    return smart, naive


async def bench(backend: str, setup: dict[str, Any], options: argparse.Namespace) -> list[str]:
    nodes = nodes_for(setup)
    rows = []
    rate = await in_process(options.calls * 10)
    rows.append(f"| {backend} | in-process no-op call | {rate:,.0f} calls/s |")
    remote_rates = await remote(nodes[0], options.calls)
    rows.append(
        f"| {backend} | remote no-op call, sequential | {remote_rates['sequential']:,.0f} calls/s |"
    )
    rows.append(
        f"| {backend} | remote no-op call, 50 concurrent | "
        f"{remote_rates['concurrent']:,.0f} calls/s |"
    )
    with tempfile.TemporaryDirectory() as scratch:
        local = Path(scratch) / "payload.bin"
        local.write_bytes(os.urandom(options.size_mib * 1024 * 1024))
        local.chmod(0o644)
        smart, naive = await push(nodes, local, Path(scratch))
    mib = 1024 * 1024
    rows.append(
        f"| {backend} | push {options.size_mib} MiB to {len(nodes)} hosts, half up to date: "
        f"PushFileService | {smart['seconds']:.2f} s, {smart['bytes'] / mib:.0f} MiB sent |"
    )
    rows.append(
        f"| {backend} | same, naive Push to every host | "
        f"{naive['seconds']:.2f} s, {naive['bytes'] / mib:.0f} MiB sent |"
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="asyncio,trio")
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--size-mib", type=int, default=10)
    parser.add_argument("--calls", type=int, default=2000)
    options = parser.parse_args()
    print(
        f"services benchmark: python {platform.python_version()}, "
        f"{platform.platform()}, {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory() as directory:
        proc, setup = start_server(options.hosts, Path(directory))
        try:
            rows = ["| backend | measure | result |", "| --- | --- | --- |"]
            for backend in options.backends.split(","):
                rows += anyio.run(bench, backend, setup, options, backend=backend)
        finally:
            proc.terminate()
            proc.wait(10)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
