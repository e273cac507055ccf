"""A value captured on one host, pasted into a shell line on another: the ``quote``
filter keeps it data; templates run sandboxed (issue 22, item 7)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import jobgraph as jg
from jobgraph_ssh import (
    Capture,
    CaptureFormatter,
    CommandFailedError,
    Deferred,
    Node,
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
    return node_for(request, request.param, 2, formatter=CaptureFormatter())


async def test_a_captured_value_quoted_in_a_shell_line_runs_as_data(
    node: Node, tmp_path: Path
) -> None:
    pwned = tmp_path / f"pwned-{uuid.uuid4().hex}"
    hostile = f"x; touch {pwned}; echo 'y' \"$(id)\" `id`"
    values = Variables()
    capture = SshJob(
        node,
        Shell(f"cat <<'EOF'\n{hostile}\nEOF", capture=Capture("name", values)),
        keep_output=False,
    )
    use = SshJob(
        node, Shell(Deferred("printf '%s|' {{ name | quote }} ok", values)), requires=capture
    )
    scheduler = jg.Scheduler(capture, use)
    try:
        assert await scheduler.run(), scheduler.why()
    finally:
        await close_all(scheduler)
    assert values.name == hostile
    assert use.result()[0].stdout == f"{hostile}|ok|"  # one word, as written
    assert not pwned.exists()


def test_the_quote_filter_quotes_for_a_posix_shell() -> None:
    values = Variables(a="it's", b="", c="plain", d=3)
    rendered = Deferred("{{a|quote}} {{b|quote}} {{c|quote}} {{d|quote}}", values).render()
    assert rendered == "'it'\"'\"'s' '' plain 3"


def test_templates_cannot_reach_python_internals() -> None:
    values = Variables(name="x")
    with pytest.raises(TemplateError, match="unsafe"):
        Deferred("{{ name.__class__.__mro__ }}", values).render()
    with pytest.raises(TemplateError):
        Deferred("{{ name.__init__.__globals__ }}", values).render()


async def test_a_template_refused_by_the_sandbox_fails_its_command(node: Node) -> None:
    values = Variables(name="x")
    job = SshJob(node, Shell(Deferred("echo {{ name.__class__ }}", values)))
    assert not await jg.Scheduler(job).run()
    await close_all(job)
    assert isinstance(job.exception, CommandFailedError)
    assert "unsafe" in str(job.exception)
