"""Generate the pictures and listings of docs/views.md into docs/images/, and the gallery.

Run from the repository root (graphviz's ``dot`` must be installed: on Debian or
Ubuntu, ``apt-get install graphviz``)::

    .venv/bin/python docs/make_images.py

The pictures of the gallery page (docs/gallery.md) are not committed: the site's build
renders them with :func:`render_gallery`, from the scenes in :data:`GALLERY`.

Runs use trio's MockClock, so sleeps are instant and every time in the outputs is
exact: running the script again gives the same files, except that the progress
transcript may list jobs that start at the same instant in another order.
"""

from __future__ import annotations

import io
import shutil
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
from rich.console import Console
from trio.testing import MockClock  # noqa: TID251 - exact, instant times for the pictures

import jobgraph as jg

IMAGES = Path(__file__).resolve().parent / "images"


async def step(name: str, seconds: float) -> str:
    await anyio.sleep(seconds)
    return f"{name} ok"


async def fail(message: str, seconds: float) -> None:
    await anyio.sleep(seconds)
    raise RuntimeError(message)


async def monitor() -> None:
    await anyio.sleep_forever()


def pipeline() -> jg.Scheduler:
    """A build pipeline: a nested build with a window, a failing non-critical lint whose
    report is skipped, a forever monitor, tests and a deployment."""
    fetch = jg.Job(step, "fetch", 1.0, label="fetch sources")
    compiles = [jg.Job(step, f"cc {n}", 1.0 + n / 2, label=f"compile {n}") for n in (1, 2, 3)]
    link = jg.Job(step, "link", 0.5, label="link", requires=compiles)
    build = jg.Scheduler(*compiles, link, jobs_window=2, label="build", requires=fetch)
    lint = jg.Job(fail, "style: 3 issues", 0.5, label="lint", critical=False, requires=fetch)
    report = jg.Job(
        step, "report", 0.2, label="lint report", requires=lint, on_failed_requirement="skip"
    )
    watch = jg.Job(monitor, label="monitor", forever=True, critical=False)
    tests = jg.Job(step, "tests", 1.5, label='run "unit" tests', requires=build)
    deploy = jg.Job(step, "deploy", 0.5, label="deploy\nto staging", requires=tests)
    return jg.Scheduler(fetch, build, lint, report, watch, tests, deploy, label="pipeline")


def flaky(name: str, seconds: float, failures: int) -> Callable[[], Awaitable[str]]:
    """A step that fails its first ``failures`` tries (a mirror that is down)."""
    tries = 0

    async def attempt() -> str:
        nonlocal tries
        tries += 1
        await anyio.sleep(seconds)
        if tries <= failures:
            raise ConnectionError(f"mirror unreachable (try {tries})")
        return f"{name} ok"

    return attempt


def doomed() -> jg.Scheduler:
    """A run aborted by a critical failure: what comes after never runs. The download
    succeeds on its third try."""
    prepare = jg.Job(step, "prepare", 0.5, label="prepare")
    download = jg.Job(
        flaky("download", 0.3, failures=2),
        label="download packages",
        retry=jg.Retry(attempts=3, backoff=0.2),
    )
    migrate = jg.Job(fail, "database is locked", 1.0, label="migrate", requires=[prepare, download])
    warm = jg.Job(step, "warm", 3.0, label="warm caches", requires=prepare)
    restart = jg.Job(step, "restart", 0.5, label="restart", requires=[migrate, warm])
    return jg.Scheduler(prepare, download, migrate, warm, restart, label="upgrade")


def fan_out() -> jg.Scheduler:
    """Split, eight chunks processed at most three at a time, then merge."""
    split = jg.Job(step, "split", 0.5, label="split")
    chunks = [
        jg.Job(step, f"chunk {n}", 0.6 + (n % 3) * 0.4, label=f"chunk {n}", requires=split)
        for n in range(1, 9)
    ]
    merge = jg.Job(step, "merge", 0.5, label="merge", requires=chunks)
    return jg.Scheduler(split, *chunks, merge, jobs_window=3, label="map-reduce")


def failing_then_ok(failures: int, seconds: float) -> object:
    """A job body that fails ``failures`` times, then succeeds."""
    calls = 0

    async def body() -> str:
        nonlocal calls
        calls += 1
        await anyio.sleep(seconds)
        if calls <= failures:
            raise ConnectionError(f"attempt {calls} refused")
        return f"ok after {calls} attempts"

    return body


def retries() -> jg.Scheduler:
    """Retries with a backoff, a per-job timeout, and a job skipped after a failure."""
    mirror = jg.Job(
        failing_then_ok(2, 0.3), label="fetch from mirror", retry=jg.Retry(attempts=4, backoff=0.5)
    )
    slow = jg.Job(
        step,
        "slow",
        5.0,
        label="slow probe",
        timeout=1.5,
        critical=False,
        retry=jg.Retry(attempts=2, backoff=0.2),
    )
    publish = jg.Job(
        step,
        "publish",
        0.4,
        label="publish",
        requires=[mirror, slow],
        on_failed_requirement="skip",
    )
    index = jg.Job(step, "index", 0.8, label="update index", requires=mirror)
    return jg.Scheduler(mirror, slow, publish, index, label="release")


def stages() -> jg.Scheduler:
    """Sequences of stages in nested schedulers, one per host."""
    hosts = []
    for name in ("alpha", "beta"):
        seq = jg.Sequence(
            jg.Job(step, "stop", 0.3, label=f"{name}: stop"),
            jg.Job(step, "upgrade", 1.0 if name == "alpha" else 1.6, label=f"{name}: upgrade"),
            jg.Job(step, "start", 0.3, label=f"{name}: start"),
        )
        hosts.append(jg.Scheduler(seq, label=f"host {name}"))
    check = jg.Job(step, "check", 0.4, label="health check", requires=hosts)
    return jg.Scheduler(*hosts, check, label="rolling upgrade")


#: The gallery: (file stem, title, what it shows, the function building the scheduler).
GALLERY = (
    (
        "pipeline",
        "A build pipeline",
        "Nesting, a window, a failing non-critical job whose dependent is skipped, a monitor.",
        pipeline,
    ),
    (
        "upgrade",
        "An aborted run",
        "A critical failure cancels what runs and starts nothing more.",
        doomed,
    ),
    (
        "fan-out",
        "Fan-out, fan-in",
        "Eight chunks through a window of three: the hatched part of a bar is the wait for a slot.",
        fan_out,
    ),
    (
        "retries",
        "Retries and timeouts",
        "A job retried with a backoff until it succeeds; a probe timing out at each attempt.",
        retries,
    ),
    (
        "stages",
        "Sequences in nested schedulers",
        "One sequence per host, each in its own scheduler, then a check that requires both.",
        stages,
    ),
)


def render_gallery(directory: Path) -> list[Path]:
    """Draw each scene of :data:`GALLERY` after its run: ``<stem>-graph.svg`` and
    ``<stem>-timeline.svg`` in ``directory``; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, _title, _text, build in GALLERY:
        scheduler = build()
        run(scheduler)
        written.append(Path(scheduler.export_as_svgfile(directory / f"{stem}-graph")))
        written.append(scheduler.export_timeline_svg(directory / f"{stem}-timeline.svg"))
    for leftover in directory.glob("*.dot"):
        leftover.unlink()
    return written


def run(scheduler: jg.Scheduler) -> bool:
    return jg.run(
        scheduler, backend="trio", backend_options={"clock": MockClock(autojump_threshold=0)}
    )


def write(name: str, text: str) -> None:
    (IMAGES / name).write_text(text, encoding="utf-8")
    print(f"wrote docs/images/{name}")


def main() -> int:
    if shutil.which("dot") is None:
        print("graphviz's dot is missing: apt-get install graphviz", file=sys.stderr)
        return 1
    IMAGES.mkdir(exist_ok=True)

    scheduler = pipeline()
    write("pipeline-before.txt", scheduler.list_text(ascii=False))
    scheduler.export_as_svgfile(IMAGES / "pipeline-before")
    scheduler.export_as_pngfile(IMAGES / "pipeline-before")
    run(scheduler)
    write("pipeline-after.txt", scheduler.list_text(ascii=False))
    write("pipeline-after-ascii.txt", scheduler.list_text(ascii=True))
    write("pipeline-stats.txt", f"{scheduler.stats()}\n{scheduler!r}\n{scheduler.why()}\n")
    scheduler.export_as_svgfile(IMAGES / "pipeline-after")
    scheduler.export_as_pngfile(IMAGES / "pipeline-after")
    scheduler.export_timeline_svg(IMAGES / "pipeline-timeline.svg")

    # the live view, as it prints when the output is not a terminal
    scheduler = pipeline()
    screen = Console(
        file=io.StringIO(), record=True, width=100, force_terminal=False, color_system="truecolor"
    )
    with jg.Progress(scheduler, console=screen):
        run(scheduler)
    write("pipeline-progress.txt", screen.export_text(clear=False))
    screen.save_svg(str(IMAGES / "pipeline-progress.svg"), title="jobgraph.run(..., progress=True)")
    print("wrote docs/images/pipeline-progress.svg")

    scheduler = doomed()
    run(scheduler)
    debrief = scheduler.debrief_text(ascii=False)
    # tracebacks name files on this machine: keep the docs free of local paths
    root = str(Path(__file__).resolve().parent.parent)
    write("upgrade-debrief.txt", debrief.replace(root, "..."))
    scheduler.export_as_svgfile(IMAGES / "upgrade-after")
    scheduler.export_timeline_svg(IMAGES / "upgrade-timeline.svg")
    for leftover in IMAGES.glob("*.dot"):
        leftover.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
