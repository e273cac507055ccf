"""Time jobgraph_ssh against raw asyncssh on K loopback hosts.

Usage::

    python benchmarks/bench_ssh.py [--hosts 10,100] [--commands 1,10] [--repeat 3]
                                   [--runners raw-asyncssh,jobgraph-asyncio,jobgraph-trio]

The hosts are the test server of ``tests/ssh/_server.py`` (asyncssh, one process, one
port per host, commands run by ``/bin/sh``), started once per host count. Every
measurement runs in a fresh worker process (this file with ``--worker``); the worker
times, after its imports, connecting to every host, running the commands in sequence
on each host (hosts in parallel), and closing: wall time, and the worker's CPU time
(all threads: the client's cost only, the server runs elsewhere). Best of ``--repeat``.

Runners:

* ``raw-asyncssh``: ``asyncio.gather`` of one ``asyncssh.connect`` + ``conn.run`` per
  host, asyncssh's default options (its default cipher order);
* ``jobgraph-asyncio`` / ``jobgraph-trio``: one ``SshJob(node, Run(...) x N)`` per host
  in one scheduler, default limits (8 handshakes in flight), run by ``jg.run``;
* ``call-asyncio`` / ``call-trio`` (not run by default): the same with ``Call(os.getpid)``
  in place of each ``Run``: the first starts the host's Python interpreter and sends it
  the bootstrap, the others reuse it (compare with the ``jobgraph-*`` rows: connect, N
  commands, close);
* ``apssh`` (when apssh and asynciojobs are installed: the ``bench`` extra): one apssh
  ``SshJob`` per host in an asynciojobs scheduler, ``co_run`` then
  ``co_close_ssh_in_scheduler`` in one event loop;
* ``parallel-ssh`` (when installed: the ``bench`` extra): one ``ParallelSSHClient`` over
  the K hosts, ``run_command`` + ``join`` N times, then the client is dropped (it has
  no close call).

Columns: wall time, and its ratio to ``raw-asyncssh``; the worker's CPU time per host and
per command; its peak RSS, and how much the peak grew during the run divided by K (an
estimate of the memory each connection costs).

Two more runners (not run by default) compare the ways of calling asyncssh from trio,
without jobgraph: the same per-host work as ``raw-asyncssh`` in a trio nursery, each
asyncssh call handed over by ``bridge-thread-trio`` (jobgraph_ssh's background asyncio
thread) or by ``bridge-trio-asyncio`` (``trio_asyncio.aio_as_trio`` inside
``trio_asyncio.open_loop()``; needs ``pip install trio-asyncio``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "tests" / "ssh" / "_server.py"
RUNNERS = ("raw-asyncssh", "jobgraph-asyncio", "jobgraph-trio", "apssh", "parallel-ssh")
# a runner whose library is missing is left out of the table, with a line saying so
NEEDS = {
    "apssh": ("apssh", "asynciojobs"),
    "parallel-ssh": ("pssh",),
    "bridge-trio-asyncio": ("trio_asyncio",),
}
COMMAND = ("echo", "hello")


def worker(runner: str, setup: dict[str, Any], commands: int) -> dict[str, float]:
    ports: list[int] = setup["ports"]
    key, known_hosts = setup["key"], setup["known_hosts"]
    if runner == "raw-asyncssh":
        import asyncio

        import asyncssh

        async def one(port: int) -> None:
            async with asyncssh.connect(
                "127.0.0.1",
                port,
                username="bench",
                client_keys=[key],
                known_hosts=known_hosts,
                agent_path=None,
            ) as conn:
                for _ in range(commands):
                    result = await conn.run(" ".join(COMMAND))
                    assert result.exit_status == 0

        async def main() -> None:
            await asyncio.gather(*(one(port) for port in ports))

        def go() -> None:
            asyncio.run(main())

    elif runner in ("bridge-thread-trio", "bridge-trio-asyncio"):
        import functools

        import asyncssh
        import trio

        if runner == "bridge-thread-trio":
            from jobgraph_ssh._asyncssh import _glue

            async def call(function: Any, *args: Any, **kwargs: Any) -> Any:
                return await _glue.call(functools.partial(function, *args, **kwargs))

            opener: Any = contextlib.nullcontext
        else:
            import trio_asyncio

            async def call(function: Any, *args: Any, **kwargs: Any) -> Any:
                return await trio_asyncio.aio_as_trio(function)(*args, **kwargs)

            opener = trio_asyncio.open_loop

        async def close(conn: Any) -> None:
            conn.close()
            await conn.wait_closed()

        async def one_trio(port: int) -> None:
            conn = await call(
                asyncssh.connect,
                "127.0.0.1",
                port,
                username="bench",
                client_keys=[key],
                known_hosts=known_hosts,
                agent_path=None,
            )
            try:
                for _ in range(commands):
                    result = await call(conn.run, " ".join(COMMAND))
                    assert result.exit_status == 0
            finally:
                await call(close, conn)

        async def trio_main() -> None:
            async with opener(), trio.open_nursery() as nursery:
                for port in ports:
                    nursery.start_soon(one_trio, port)

        def go() -> None:
            trio.run(trio_main)

    elif runner == "apssh":
        import asyncio

        import asynciojobs
        from apssh import Run as ApsshRun
        from apssh import SshJob as ApsshJob
        from apssh import SshNode as ApsshNode
        from apssh import co_close_ssh_in_scheduler
        from apssh.formatters import Formatter
        from apssh.keys import import_private_key

        class QuietApssh(Formatter):  # type: ignore[misc]
            def line(self, line: str, datatype: Any, hostname: str) -> None:
                pass

            def session_start(self, *args: Any) -> None:
                pass

            def session_stop(self, *args: Any) -> None:
                pass

        def go() -> None:
            keys = [import_private_key(key)]
            scheduler = asynciojobs.Scheduler()
            for port in ports:
                # apssh checks no host key: known_hosts is not passed (it takes none)
                node = ApsshNode(
                    "127.0.0.1",
                    port=port,
                    username="bench",
                    keys=keys,
                    formatter=QuietApssh("@line@"),
                )
                ApsshJob(
                    node=node,
                    commands=[ApsshRun(*COMMAND) for _ in range(commands)],
                    scheduler=scheduler,
                )

            # run and close in one event loop: apssh's synchronous close_ssh_in_scheduler,
            # called after a synchronous run, waits 30 s on connections of a closed loop
            async def main() -> None:
                assert await scheduler.co_run(), "apssh run failed"
                await co_close_ssh_in_scheduler(scheduler)

            asyncio.run(main())

    elif runner == "parallel-ssh":
        from pssh.clients import ParallelSSHClient
        from pssh.config import HostConfig

        def go() -> None:
            # one entry per host; each is 127.0.0.1 on its own port (host keys: not checked)
            client = ParallelSSHClient(
                ["127.0.0.1"] * len(ports),
                host_config=[
                    HostConfig(port=port, user="bench", private_key=key, allow_agent=False)
                    for port in ports
                ],
                pool_size=len(ports),
                allow_agent=False,
            )
            for _ in range(commands):
                output = client.run_command(" ".join(COMMAND))
                client.join(output, consume_output=True)
                for host_output in output:
                    assert host_output.exit_code == 0, host_output
            del client  # parallel-ssh has no close call: its connections go with the client
            gc.collect()

    else:
        import jobgraph as jg
        from jobgraph_ssh import Call, Run, SshJob, SshNode, close_all

        class Quiet:
            def line(self, host: str, stream: str, text: str) -> None:
                pass

            def event(self, host: str, message: str) -> None:
                pass

        backend = runner.removeprefix("jobgraph-").removeprefix("call-")

        def command() -> Any:
            return Call(os.getpid) if runner.startswith("call-") else Run(*COMMAND)

        def go() -> None:
            nodes = [
                SshNode(
                    "127.0.0.1",
                    port=port,
                    username="bench",
                    keys=[key],
                    known_hosts=known_hosts,
                    formatter=Quiet(),
                )
                for port in ports
            ]
            jobs = [SshJob(node, [command() for _ in range(commands)]) for node in nodes]
            scheduler = jg.Scheduler(*jobs)

            async def main() -> None:
                try:
                    assert await scheduler.run(), scheduler.why()
                finally:
                    await close_all(scheduler)

            import anyio

            anyio.run(main, backend=backend)

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, after imports
    cpu0, wall0 = time.process_time(), time.perf_counter()
    go()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"wall": wall, "cpu": cpu, "maxrss_kib": float(rss), "grown_kib": float(rss - rss0)}


def start_server(hosts: int, directory: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    private, public = directory / "key", directory / "key.pub"
    private.write_bytes(key.export_private_key())
    public.write_bytes(key.export_public_key())
    command = [sys.executable, str(SERVER), "--hosts", str(hosts), "--authorized-keys", str(public)]
    command += ["--stats", str(directory / "stats.json"), "--cwd", str(directory)]
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


def measure(runner: str, setup: dict[str, Any], commands: int, repeat: int) -> dict[str, float]:
    best: dict[str, float] | None = None
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--worker", runner, "--commands", str(commands)],
            input=json.dumps(setup),
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            check=False,
        )
        if out.returncode != 0:
            print(f"{runner} failed:\n{out.stderr}", file=sys.stderr)
            continue
        result = json.loads(out.stdout.strip().splitlines()[-1])
        if best is None or result["wall"] < best["wall"]:
            best = result
    nan = float("nan")
    return best or {"wall": nan, "cpu": nan, "maxrss_kib": nan, "grown_kib": nan}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", default="10,100")
    parser.add_argument("--commands", default="1,10")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--runners", default=",".join(RUNNERS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.worker:
        setup = json.loads(sys.stdin.read())
        print(json.dumps(worker(options.worker, setup, int(options.commands))))
        return
    runners = []
    for runner in options.runners.split(","):
        missing = [name for name in NEEDS.get(runner, ()) if importlib.util.find_spec(name) is None]
        if missing:
            print(f"{runner}: left out, {', '.join(missing)} not installed", file=sys.stderr)
        else:
            runners.append(runner)
    rows = []
    for hosts in (int(k) for k in options.hosts.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            proc, setup = start_server(hosts, Path(tmp))
            try:
                for commands in (int(n) for n in options.commands.split(",")):
                    for runner in runners:
                        print(f"K={hosts} N={commands} {runner}...", file=sys.stderr)
                        result = measure(runner, setup, commands, options.repeat)
                        rows.append((hosts, commands, runner, result))
            finally:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(10)
    print(
        f"{'K':>4} {'cmds':>4}  {'runner':<17} {'wall s':>7} {'vs raw':>6} "
        f"{'CPU ms/host':>11} {'CPU ms/cmd':>10} {'maxrss MiB':>10} {'KiB/conn':>8}"
    )
    raw = {(k, n): r["wall"] for k, n, name, r in rows if name == "raw-asyncssh"}
    for hosts, commands, runner, result in rows:
        ratio = (
            result["wall"] / raw[(hosts, commands)] if (hosts, commands) in raw else float("nan")
        )
        per_host = 1000 * result["cpu"] / hosts
        print(
            f"{hosts:>4} {commands:>4}  {runner:<17} {result['wall']:>7.3f} {ratio:>6.2f} "
            f"{per_host:>11.1f} {per_host / commands:>10.2f} "
            f"{result['maxrss_kib'] / 1024:>10.1f} {result['grown_kib'] / hosts:>8.1f}"
        )


if __name__ == "__main__":
    main()
