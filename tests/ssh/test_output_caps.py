"""Output kept in memory has a cap, and results say when something was cut
(issue 22, item 9): stderr as stdout, Capture, and LocalNode's long lines."""

from __future__ import annotations

import io
import time

import pytest

import jobgraph as jg
from jobgraph_ssh import (
    Capture,
    CommandFailedError,
    Deferred,
    LocalNode,
    Node,
    RawFormatter,
    Shell,
    SshJob,
    Variables,
    close_all,
)
from jobgraph_ssh._job import DEFAULT_KEEP

from .conftest import node_for, run_jobs

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncssh", "local"])
def node(request: pytest.FixtureRequest) -> Node:
    quiet = RawFormatter(out=io.StringIO(), err=io.StringIO())
    return node_for(request, request.param, 3, formatter=quiet)


async def test_stderr_is_capped_like_stdout_and_the_result_says_so(node: Node) -> None:
    # 1.1 MB on stderr (one long line, then short ones), as much on stdout
    noisy = Shell(
        "head -c 1000000 /dev/zero | tr '\\0' e >&2; echo >&2; seq 20000 >&2; "
        "head -c 1000000 /dev/zero | tr '\\0' o; echo; seq 20000"
    )
    quiet = Shell("echo fine; echo warn >&2")
    job = SshJob(node, noisy, quiet)
    assert await run_jobs(job)
    cut, whole = job.result()
    assert cut.stderr is not None and cut.stdout is not None
    assert len(cut.stderr) == len(cut.stdout) == DEFAULT_KEEP  # the end of each is kept
    assert cut.stderr.endswith("19999\n20000\n") and cut.stdout.endswith("20000\n")
    assert cut.stderr_truncated and cut.stdout_truncated
    assert all(len(line) <= 1000 for line in cut.stderr_tail)
    assert (whole.stdout, whole.stderr) == ("fine\n", "warn\n")
    assert not whole.stderr_truncated and not whole.stdout_truncated


async def test_keep_output_caps_stderr_too(node: Node) -> None:
    job = SshJob(node, Shell("seq 1000 >&2"), keep_output=10)
    assert await run_jobs(job)
    result = job.result()[0]
    assert result.stderr == "999\n1000\n" and result.stderr_truncated  # whole lines
    everything = SshJob(node, Shell("seq 100000 >&2"), keep_output=True)
    assert await run_jobs(everything)
    assert len(everything.result()[0].stderr or "") == 588895  # asked for: all of it
    assert not everything.result()[0].stderr_truncated


async def test_a_capture_past_its_limit_sets_no_variable_and_says_it_was_cut(
    node: Node,
) -> None:
    values = Variables()
    job = SshJob(
        node,
        Shell("seq 1000", capture=Capture("long", values, limit=100)),
        Shell("seq 3", capture=Capture("short", values, limit=100)),
        Shell(Deferred("echo {{ long | quote }}", values)),
    )
    assert not await run_jobs(job)
    assert "short" in values and "long" not in values  # a cut value is not the value
    error = job.exception
    assert isinstance(error, CommandFailedError)
    assert "'long' is undefined" in str(error)
    long, short = error.results[:2]
    assert long.stdout_truncated and long.stdout is not None
    assert 95 < len(long.stdout) <= 100 and long.stdout.startswith("97")  # whole lines
    assert not short.stdout_truncated and values.short == "1\n2\n3"


def test_capture_limit_is_checked() -> None:
    assert Capture("x", Variables()).limit == 1 << 20  # the documented default, 1 MiB
    assert Capture("x", Variables(), limit=None).limit is None
    for wrong in (0, -1, 1.5, True, "10"):
        with pytest.raises(jg.InvalidOptionError, match="limit must be a positive int"):
            Capture("x", Variables(), limit=wrong)  # type: ignore[arg-type]


async def test_a_long_line_without_newline_costs_linear_time_locally() -> None:
    """LocalNode joined each new chunk to the pending line and split it all again:
    quadratic (16 MB: 1.5 s of CPU). 32 MB in one line now take a fraction of that."""
    size = 32 * 1024 * 1024
    job = SshJob(
        LocalNode(formatter=Discard()),
        Shell(f"head -c {size} /dev/zero | tr '\\0' x"),
        keep_output=16,
    )
    started = time.process_time()
    assert await run_jobs(job)
    spent = time.process_time() - started
    assert job.result()[0].stdout == "x" * 16 and job.result()[0].stdout_truncated
    assert spent < 3.0, f"{spent:.2f} s of CPU for one line of {size} bytes"


class Discard:
    """A formatter that shows nothing."""

    def line(self, host: str, stream: str, text: str) -> None:
        del host, stream, text

    def event(self, host: str, message: str) -> None:
        del host, message


async def test_listings_say_when_kept_output_was_cut(node: Node) -> None:
    job = SshJob(node, Shell("seq 1000; seq 1000 >&2"), Shell("echo short"), keep_output=100)
    scheduler = jg.Scheduler(job)
    assert "output cut" not in scheduler.list_text(details=True)  # not run yet
    try:
        assert await scheduler.run()
    finally:
        await close_all(scheduler)
    listing = scheduler.list_text(details=True)
    assert "output cut: seq 1000; seq 1000 >&2 kept the end of stdout and stderr" in listing
    assert listing.count("output cut") == 1
