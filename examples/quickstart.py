"""A small but real pipeline: fetch pages from a local HTTP-like server, parse them,
and report, with a monitor daemon, retries, a window, and a nested scheduler.

Run it with ``.venv/bin/python examples/quickstart.py [asyncio|trio]``.
"""

from __future__ import annotations

import sys

import anyio
import anyio.abc

import jobgraph as jg

PAGES = {f"/page/{i}": f"content of page {i} " * (i + 1) for i in range(6)}


async def serve(port_holder: list[int], *, task_status: jg.TaskStatusLike) -> None:
    """A tiny line-based server on 127.0.0.1: a client sends a path, gets the page."""

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            path = (await stream.receive(1024)).decode().strip()
            await stream.send(PAGES.get(path, "").encode())

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port_holder.append(listener.extra(anyio.abc.SocketAttribute.local_port))
    task_status.started()  # clients may start now
    await listener.serve(handle)


attempts: dict[str, int] = {}


async def fetch(port_holder: list[int], path: str) -> str:
    attempts[path] = attempts.get(path, 0) + 1
    if path == "/page/3" and attempts[path] < 2:
        raise ConnectionError("flaky network, first try fails")  # retried
    async with await anyio.connect_tcp("127.0.0.1", port_holder[0]) as stream:
        await stream.send(path.encode())
        chunks = []
        try:
            while True:
                chunks.append(await stream.receive())
        except anyio.EndOfStream:
            pass
    return b"".join(chunks).decode()


async def count_words(*fetches: jg.Job) -> int:
    return sum(len(job.result().split()) for job in fetches)


def build() -> jg.Scheduler:
    port: list[int] = []
    server = jg.Job(serve, port, forever=True, label="server")
    fetches = [
        jg.Job(
            fetch,
            port,
            path,
            label=f"fetch {path}",
            retry=jg.Retry(attempts=3, backoff=0.05),
            timeout=5,
        )
        for path in PAGES
    ]
    # the downloads start once the server said it is ready; two at a time
    downloads = jg.Scheduler(*fetches, jobs_window=2, label="downloads", requires=server)
    total = jg.Job(count_words, *fetches, label="count words", requires=downloads)
    return jg.Scheduler(server, downloads, total, timeout=30, label="quickstart")


def main() -> int:
    backend = sys.argv[1] if len(sys.argv) > 1 else "asyncio"
    scheduler = build()
    ok = jg.run(scheduler, backend=backend)
    print(f"backend: {backend}; run ok: {ok}; {scheduler.why()}")
    for job in scheduler.iterate_jobs():
        print(f"  {job.label:<18} {job.record.outcome:<9} attempts={job.attempts}")
    total = next(job for job in scheduler.jobs if job.label == "count words")
    print(f"words fetched: {total.result()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
