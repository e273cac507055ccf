"""Native options used by the apssh adapter: key objects, X11 forwarding, how a staged
script's command line is joined."""

from __future__ import annotations

import asyncssh
import pytest

import jobgraph as jg
from jobgraph_ssh import CaptureFormatter, RunString, Shell, SshJob, close_all

from .conftest import Servers, make_node

pytestmark = pytest.mark.anyio


async def test_keys_may_be_key_objects(servers: Servers) -> None:
    key = asyncssh.read_private_key(servers.client_key)
    captured = CaptureFormatter()
    node = make_node(servers, keys=[key], formatter=captured)
    job = SshJob(node, Shell("echo with a key object"))
    try:
        assert await jg.Scheduler(job).run()
    finally:
        await close_all(node)
    assert captured.text() == "with a key object\n"


async def test_x11_is_asked_for_and_refusal_is_not_fatal(sshd: Servers) -> None:
    class X11Shell(Shell):
        x11 = True

    captured = CaptureFormatter()
    node = make_node(sshd, formatter=captured)
    job = SshJob(node, X11Shell("echo ran"))
    try:
        assert await jg.Scheduler(job).run()  # sshd here has X11Forwarding off
    finally:
        await close_all(node)
    assert captured.text() == "ran\n"


async def test_staged_scripts_join_line_can_be_overridden(servers: Servers) -> None:
    class Unquoted(RunString):
        def join_line(self, parts: list[str]) -> str:
            return " ".join(parts)

    captured = CaptureFormatter()
    node = make_node(servers, formatter=captured)
    body = '#!/bin/sh\necho "$#"\n'
    quoted, unquoted = RunString(body, "a b"), Unquoted(body, "a b")
    assert quoted.command_line() == "script 'a b'"
    assert unquoted.command_line() == "script a b"
    try:
        assert await jg.Scheduler(SshJob(node, quoted, unquoted)).run()
    finally:
        await close_all(node)
    assert captured.text() == "1\n2\n"
