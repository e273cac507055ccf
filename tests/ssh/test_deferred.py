"""Values flowing between commands: Capture into Variables, Deferred templates."""

from __future__ import annotations

import pytest

import jobgraph as jg
from jobgraph_ssh import (
    Capture,
    CaptureFormatter,
    CommandFailedError,
    Deferred,
    Node,
    Run,
    RunString,
    Shell,
    SshJob,
    TemplateError,
    Variables,
    close_all,
)

from .conftest import node_for

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncssh", "local"])
def node(request: pytest.FixtureRequest) -> Node:
    return node_for(request, request.param, 1, formatter=CaptureFormatter())


async def test_captured_output_feeds_later_commands(node: Node) -> None:
    env = Variables()
    first = SshJob(
        node, Shell("printf 'pod-42\\n\\n'", capture=Capture("pod", env)), keep_output=False
    )
    second = SshJob(
        node,
        Run("echo", Deferred("name={{pod}}; not a shell", env)),
        Shell(Deferred("echo {{ pod | upper }}", env)),
        RunString('#!/bin/sh\necho "arg: $1"\n', Deferred("{{pod}}-x", env)),
        requires=first,
    )
    scheduler = jg.Scheduler(first, second)
    try:
        assert await scheduler.run(), scheduler.why()
    finally:
        await close_all(scheduler)
    assert env.pod == env["pod"] == "pod-42"  # trailing newlines removed, like $(...)
    assert [r.stdout for r in second.result()] == [
        "name=pod-42; not a shell\n",
        "POD-42\n",
        "arg: pod-42-x\n",
    ]
    assert second.result()[0].command == "echo 'name=pod-42; not a shell'"
    assert second.label.endswith("echo 'name={{pod}}; not a shell' (+2)")  # shown as template


async def test_undefined_variable_fails_the_command_naming_it(node: Node) -> None:
    env = Variables()
    job = SshJob(node, Run("echo", Deferred("{{nope}}", env)), Shell("echo never"))
    assert not await jg.Scheduler(job).run()
    await close_all(job)
    error = job.exception
    assert isinstance(error, CommandFailedError)
    assert "'nope' is undefined" in str(error) and len(error.results) == 1


def test_variables_are_a_namespace() -> None:
    env = Variables()
    env.foo = "bar"
    env["baz"] = 1
    assert env["foo"] == "bar" and env.baz == 1
    with pytest.raises(AttributeError):
        _ = env.missing
    del env.foo
    assert dict(env) == {"baz": 1}


def test_template_syntax_error_is_refused_at_once() -> None:
    with pytest.raises(TemplateError, match="unexpected"):
        Deferred("{{ oops", Variables())
    assert isinstance(TemplateError("x"), jg.JobGraphError)


def test_dup_from_string_shares_the_variables() -> None:
    env = Variables(x="1")
    assert Deferred("a{{x}}", env).dup_from_string("b{{x}}").render() == "b1"
