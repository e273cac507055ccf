"""Formatters that write files or timestamps, and the topology drawing."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest

import jobgraph as jg
from jobgraph_ssh import (
    CaptureFormatter,
    FilePerHostFormatter,
    LocalNode,
    Run,
    Shell,
    SshJob,
    SshNode,
    TimestampFormatter,
    close_all,
    topology_dot,
    write_topology,
)

from .conftest import Servers, make_node

pytestmark = pytest.mark.anyio


async def test_file_per_host_formatter_writes_one_file_per_host_and_stream(
    servers: Servers, tmp_path: Path
) -> None:
    with FilePerHostFormatter(tmp_path / "logs") as files:
        nodes = [make_node(servers, i, formatter=files) for i in range(2)]
        jobs = [
            SshJob(node, Shell(f"echo out{i}; echo err{i} >&2")) for i, node in enumerate(nodes)
        ]
        scheduler = jg.Scheduler(*jobs)
        assert await scheduler.run()
        await close_all(scheduler)
    for i, node in enumerate(nodes):
        assert files.path(node.label).read_text() == f"out{i}\n"
        assert files.path(node.label, "stderr").read_text() == f"err{i}\n"


async def test_timestamp_formatter_prefixes_time_and_host() -> None:
    out = io.StringIO()
    node = LocalNode(formatter=TimestampFormatter(out=out, err=io.StringIO()))
    assert await jg.Scheduler(SshJob(node, Shell("echo hi"))).run()
    assert re.fullmatch(r"\d\d:\d\d:\d\d localhost: hi\n", out.getvalue())


def test_topology_shows_gateway_chains() -> None:
    gw = SshNode("gw.example.org", username="ops")
    inner = SshNode("inner", gateway=gw)
    leaf = SshNode("leaf", gateway=inner, label="the leaf")
    direct = SshNode("direct", port=2222)
    scheduler = jg.Scheduler(
        SshJob(leaf, Shell("true")),
        SshJob(direct, Shell("true")),
        SshJob(LocalNode(), Shell("true")),
    )
    dot = topology_dot(scheduler)
    assert '"localhost" -> "ops@gw.example.org";' in dot
    assert '"ops@gw.example.org" -> "inner";' in dot
    assert '"inner" -> "leaf";' in dot
    assert '"localhost" -> "direct:2222";' in dot
    assert 'label="the leaf"' in dot
    assert dot.count("->") == 4


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")
def test_write_topology_draws_a_picture(tmp_path: Path) -> None:
    node = SshNode("far", gateway=SshNode("gw"))
    write_topology(tmp_path / "topo.svg", node)
    assert "<svg" in (tmp_path / "topo.svg").read_text()
    write_topology(tmp_path / "topo.dot", node)
    assert '"gw" -> "far"' in (tmp_path / "topo.dot").read_text()


async def test_listing_shows_a_short_form_of_command_results(servers: Servers) -> None:
    """Not the whole ``CommandResult(...)`` repr, about 400 characters a command."""
    node = make_node(servers, formatter=CaptureFormatter())
    one = SshJob(node, Shell("printf '\\n  hello  \\nworld\\n'"), label="one")
    two = SshJob(node, Run("true"), Shell("seq -s x 1 100"), label="two")
    quiet = SshJob(node, Run("true"), label="quiet")
    scheduler = jg.Scheduler(one, two, quiet)
    try:
        assert await scheduler.run()
    finally:
        await close_all(node)
    listing = scheduler.list_text()
    assert "CommandResult(" not in listing
    lines = {line.split("`")[1]: line for line in listing.splitlines()}
    assert lines["one"].endswith(f"[[ -> exit 0 on {node.name}: hello]] ")
    long_line = "x".join(map(str, range(1, 101)))
    assert lines["two"].endswith(
        f"[[ -> 2 commands, last: exit 0 on {node.name}: {long_line[:57]}...]] "
    )
    assert lines["quiet"].endswith(f"[[ -> exit 0 on {node.name}]] ")
    assert max(len(line) for line in lines.values()) < 160
