"""Commands and SshJob on real servers: Run, Shell, env, allowed_exits, failures, output."""

from __future__ import annotations

import io

import pytest

import jobgraph as jg
from jobgraph_ssh import (
    CaptureFormatter,
    CommandFailedError,
    CommandResult,
    HostFormatter,
    LocalNode,
    Node,
    RawFormatter,
    Run,
    RunScript,
    RunString,
    Shell,
    SshJob,
)

from .conftest import Servers, make_node, run_jobs

pytestmark = pytest.mark.anyio


async def check_command_kinds(node: Node) -> None:
    capture = CaptureFormatter()
    job = SshJob(
        node,
        Run("printf", "%s|", "a b", "c;d", "$HOME"),  # each part quoted: no shell syntax
        Shell("echo one | tr a-z A-Z; echo two >&2"),
        Shell('echo "$GREETING"', env={"GREETING": "hello there"}),
        Shell("exit 3", allowed_exits=[3]),
        Shell("kill -TERM $$", allowed_exits=["TERM"]),
        formatter=capture,
    )
    assert await run_jobs(job)
    results = job.result()
    assert all(isinstance(result, CommandResult) for result in results)
    assert [result.stdout for result in results] == [
        "a b|c;d|$HOME|",
        "ONE\n",
        "hello there\n",
        "",
        "",
    ]
    assert results[1].stderr == "two\n"
    assert [(result.exit_status, result.signal) for result in results] == [
        (0, None),
        (0, None),
        (0, None),
        (3, None),
        (None, "TERM"),
    ]
    assert results[0].command == "printf '%s|' 'a b' 'c;d' '$HOME'"
    assert all(r.started_at <= r.ended_at for r in results)
    assert ("stderr", "two") in [(stream, text) for _, stream, text in capture.lines]
    assert capture.text(node.label) == "a b|c;d|$HOME|\nONE\nhello there\n"


async def test_command_kinds_on_asyncssh_server(servers: Servers) -> None:
    await check_command_kinds(make_node(servers, 1))


async def test_command_kinds_on_openssh_sshd(sshd: Servers) -> None:
    await check_command_kinds(make_node(sshd))


async def test_command_kinds_on_local_node() -> None:
    await check_command_kinds(LocalNode())


async def test_critical_job_stops_at_first_failure_naming_host_and_command(
    servers: Servers,
) -> None:
    node = make_node(servers, 0)
    failing = SshJob(
        node,
        Shell("echo first"),
        Shell("echo oops >&2; exit 4"),
        Shell("echo never"),
        label="deploy",
    )
    assert not await run_jobs(failing)
    error = failing.exception
    assert isinstance(error, CommandFailedError)
    assert (error.host, error.command, error.exit_status) == (node.name, "echo oops >&2; exit 4", 4)
    assert error.stderr_tail == ("oops",)
    assert error.job == "deploy"
    assert [r.stdout for r in error.results] == ["first\n", ""]
    text = str(error)
    assert "deploy" in text and node.name in text and "exit status 4" in text and "oops" in text


async def test_non_critical_job_runs_every_command_and_records_outcomes(
    servers: Servers,
) -> None:
    node = make_node(servers, 0)
    job = SshJob(
        node,
        Shell("exit 1"),
        Shell("echo still"),
        Shell("exit 2"),
        critical=False,
        formatter=CaptureFormatter(),
    )
    other = SshJob(node, Shell("echo other"), formatter=CaptureFormatter())
    assert await run_jobs(job, other)  # a non-critical failure does not fail the run
    error = job.exception
    assert isinstance(error, CommandFailedError)
    assert error.exit_status == 1 and "1 more command failed" in str(error)
    assert [(r.exit_status, r.allowed) for r in error.results] == [
        (1, False),
        (0, True),
        (2, False),
    ]
    assert other.result()[0].stdout == "other\n"


async def test_keep_output_false_keeps_nothing_but_streams_lines(servers: Servers) -> None:
    capture = CaptureFormatter()
    job = SshJob(make_node(servers, 0), Shell("seq 3"), keep_output=False, formatter=capture)
    assert await run_jobs(job)
    assert job.result()[0].stdout is None
    assert [text for _, _, text in capture.lines] == ["1", "2", "3"]


async def test_keep_output_int_keeps_the_end_of_stdout(servers: Servers) -> None:
    job = SshJob(
        make_node(servers, 0),
        Shell("seq 1000"),
        keep_output=10,
        formatter=RawFormatter(out=io.StringIO()),
    )
    assert await run_jobs(job)
    result = job.result()[0]
    assert result.stdout_truncated and result.stdout is not None
    assert result.stdout.endswith("999\n1000\n") and len(result.stdout) <= 10


async def test_host_formatter_prefixes_lines_and_keeps_stderr_apart(servers: Servers) -> None:
    out, err = io.StringIO(), io.StringIO()
    node = make_node(servers, 2, formatter=HostFormatter(out=out, err=err))
    assert await run_jobs(SshJob(node, Shell("echo a; echo b >&2; echo c")))
    assert out.getvalue() == f"{node.name}: a\n{node.name}: c\n"
    assert err.getvalue() == f"{node.name}: b\n"


async def test_raw_formatter_writes_lines_as_they_are(servers: Servers) -> None:
    out, err = io.StringIO(), io.StringIO()
    node = make_node(servers, 2, formatter=RawFormatter(out=out, err=err), label="web")
    assert await run_jobs(SshJob(node, Shell("echo a; echo b >&2")))
    assert (out.getvalue(), err.getvalue()) == ("a\n", "b\n")


def test_job_definition_errors_name_the_problem() -> None:
    node = LocalNode()
    with pytest.raises(jg.JobDefinitionError, match="Shell"):
        SshJob(node, "ls")  # type: ignore[arg-type]
    with pytest.raises(jg.JobDefinitionError, match="no command"):
        SshJob(node)
    with pytest.raises(jg.InvalidOptionError, match="signal name 'NOPE'"):
        Shell("true", allowed_exits=["NOPE"])
    with pytest.raises(jg.InvalidOptionError, match="at least a program"):
        Run()


def test_a_none_among_a_commands_parts_is_refused() -> None:
    # str(None) would have run "echo None"
    with pytest.raises(jg.InvalidOptionError, match=r"^Run\(\): argument 2 is None"):
        Run("echo", None)
    with pytest.raises(jg.InvalidOptionError, match=r"^RunScript\(\): argument 1 is None"):
        RunScript(None)  # type: ignore[arg-type]
    with pytest.raises(jg.InvalidOptionError, match=r"^RunString\(\): argument 3 is None"):
        RunString("#!/bin/sh\necho $1\n", "a", None)
    assert Run("echo", 0, "").command_line() == "echo 0 ''"  # other values: their str()


def test_default_label_names_node_and_first_command() -> None:
    job = SshJob(LocalNode(), Run("uname", "-a"), Shell("true"))
    assert job.label == "localhost: uname -a (+1)"


@pytest.mark.parametrize(
    ("keep", "kept", "truncated"),
    [
        (6, "ab\ncd\n", False),  # exactly what was printed: every line stays
        (7, "ab\ncd\n", False),
        (5, "cd\n", True),  # one character short: the first line goes
        (3, "cd\n", True),
        (2, "d\n", True),  # not even the last line fits: its end is kept
    ],
)
async def test_keep_output_keeps_every_line_that_fits(
    servers: Servers, keep: int, kept: str, truncated: bool
) -> None:
    """Bug: ``keep_output=n`` dropped a line when exactly n characters were kept: a line
    of the output silently missing."""
    capture = CaptureFormatter()
    job = SshJob(make_node(servers, 0), Shell("printf 'ab\\ncd\\n'"), keep_output=keep,
                 formatter=capture)  # fmt: skip
    assert await run_jobs(job)
    result = job.result()[0]
    assert (result.stdout, result.stdout_truncated) == (kept, truncated)
    assert [text for _, _, text in capture.lines] == ["ab", "cd"]  # all shown, whatever kept


async def test_a_failure_names_the_last_ten_stderr_lines_even_when_nothing_is_kept(
    servers: Servers,
) -> None:
    """The error of a failed command quotes the last 10 lines of its stderr (a line
    short was a planted bug no test saw), whatever ``keep_output`` says."""
    job = SshJob(
        make_node(servers, 0, formatter=CaptureFormatter()),
        Shell("for i in $(seq 12); do echo line$i >&2; done; exit 2"),
        keep_output=False,
    )
    assert not await run_jobs(job)
    error = job.exception
    assert isinstance(error, CommandFailedError)
    expected = tuple(f"line{i}" for i in range(3, 13))
    assert error.stderr_tail == expected
    assert str(error).endswith("\n".join(f"  {line}" for line in expected))
    assert "line2\n" not in str(error)
