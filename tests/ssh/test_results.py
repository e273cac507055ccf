"""jg.ResultOf placeholders in SSH commands' arguments: a job's result used by a command."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest

import jobgraph as jg
from jobgraph_ssh import (
    CaptureFormatter,
    CommandResult,
    Node,
    Pull,
    Push,
    Run,
    RunString,
    Shell,
    SshJob,
    close_all,
)

from .conftest import node_for

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncssh", "local"])
def node(request: pytest.FixtureRequest) -> Node:
    return node_for(request, request.param, 0, formatter=CaptureFormatter())


def returning(value: object) -> Callable[[], Awaitable[object]]:
    async def body() -> object:
        return value

    return body


def last_line(results: list[CommandResult]) -> str:
    assert results[-1].stdout is not None
    return results[-1].stdout.strip()


async def test_a_command_argument_is_another_jobs_result(node: Node) -> None:
    first = SshJob(node, Shell("echo 'pod 42; x'"), label="first")
    word = jg.Job(returning("from-python"), label="word")
    second = SshJob(
        node,
        Run("echo", jg.ResultOf(first, last_line), jg.ResultOf(word)),
        Shell(jg.ResultOf(word, lambda w: f"echo shell-{w} | tr a-z A-Z")),
        RunString('#!/bin/sh\necho "arg: $1"\n', jg.ResultOf(first, last_line)),
        label="second",
    )
    # the placeholders add the requirements: nothing else tells the order
    assert set(jg.lowlevel.requirements_of(second)) == {first, word}
    # shown as placeholders until run
    assert "echo '<result of first>' '<result of word>'" in second.details()
    scheduler = jg.Scheduler(second, word, first)
    try:
        assert await scheduler.run(), scheduler.why()
    finally:
        await close_all(scheduler)
    assert [r.stdout for r in second.result()] == [
        "pod 42; x from-python\n",  # each part quoted: the ';' is not shell syntax
        "SHELL-FROM-PYTHON\n",
        "arg: pod 42; x\n",
    ]
    assert second.result()[0].command == "echo 'pod 42; x' from-python"


async def test_push_and_pull_paths_from_results(node: Node, tmp_path: Path) -> None:
    source = tmp_path / "data.txt"
    source.write_text("payload\n")
    back = tmp_path / "back"
    remote = jg.Job(returning(str(tmp_path / "remote dir")), label="where")
    local = jg.Job(returning(source), label="what")
    job = SshJob(
        node,
        Push([jg.ResultOf(local)], jg.ResultOf(remote)),
        Pull(jg.ResultOf(remote, lambda d: f"{d}/data.txt"), back),
        label="copy",
    )
    assert set(jg.lowlevel.requirements_of(job)) == {remote, local}
    scheduler = jg.Scheduler(job, remote, local)
    try:
        assert await scheduler.run(), scheduler.why()
    finally:
        await close_all(scheduler)
    assert (tmp_path / "remote dir" / "data.txt").read_text() == "payload\n"
    assert (back / "data.txt").read_text() == "payload\n"


async def test_a_failed_required_job_fails_the_command_naming_both(node: Node) -> None:
    broken = SshJob(node, Shell("exit 3"), label="broken", critical=False)
    user = SshJob(
        node, Shell("echo before"), Run("echo", jg.ResultOf(broken, last_line)), label="user"
    )
    scheduler = jg.Scheduler(broken, user, critical=False)
    try:
        assert not await scheduler.run()
    finally:
        await close_all(scheduler)
    error = user.exception
    assert isinstance(error, jg.ResultUnavailableError)
    assert error.job is user and error.required is broken
    assert "'user'" in str(error) and "'broken'" in str(error)


async def test_placeholders_add_to_the_requirements_the_user_named(
    node: Node, tmp_path: Path
) -> None:
    """Bug: an SshJob with a ResultOf placeholder dropped the user's own ``requires=``:
    the job started before the requirement the user named had ended."""
    marker = tmp_path / "marker"

    async def write_later() -> None:
        await anyio.sleep(0.2)
        marker.write_text("written\n")

    named = jg.Job(write_later, label="named")
    where = jg.Job(returning(str(marker)), label="where")
    job = SshJob(node, Run("cat", jg.ResultOf(where)), requires=named, label="reader")
    assert set(jg.lowlevel.requirements_of(job)) == {named, where}
    scheduler = jg.Scheduler(job, where, named)
    try:
        with anyio.fail_after(30):
            assert await scheduler.run(), scheduler.why()
    finally:
        await close_all(scheduler)
    assert job.result()[0].stdout == "written\n"
    assert named.ended_at is not None and job.started_at is not None
    assert job.started_at >= named.ended_at
