"""Native options used by the apssh adapter: key objects, X11 forwarding, how a staged
script's command line is joined; and :class:`SshOptions`, the one validated options
object of a connection (nodes, the ``jobgraph-ssh`` command)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import asyncssh
import pytest

import jobgraph as jg
from jobgraph_ssh import (
    CaptureFormatter,
    Limits,
    RunString,
    Shell,
    SshJob,
    SshNode,
    SshOptions,
    close_all,
)
from jobgraph_ssh.cli._options import parse as cli_parse
from jobgraph_ssh.cli._output import LineSink
from jobgraph_ssh.cli._run import build
from jobgraph_ssh.lowlevel import DEFAULT_CONNECT_TIMEOUT

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


# -- SshOptions: the connection's options, declared and checked once ----------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("port", 0, "port must be 1..65535, not 0"),
        ("port", 65536, "port must be 1..65535, not 65536"),
        ("port", "22", "port must be 1..65535, not '22'"),
        ("port", True, "port must be 1..65535, not True"),
        ("connect_timeout", 0, "connect_timeout must be a number of seconds > 0"),
        ("connect_timeout", math.nan, "connect_timeout must be a number of seconds > 0"),
        ("keepalive_interval", -1, "keepalive_interval must be a number of seconds > 0"),
        ("keepalive_interval", None, "keepalive_interval must be a number of seconds > 0"),
        ("host_key_policy", "yolo", "host_key_policy must be one of 'strict', 'accept-new'"),
        ("max_channels", 0, "max_channels must be a positive int or None, not 0"),
        ("max_channels", "8", "max_channels must be a positive int or None, not '8'"),
        ("max_channels", True, "max_channels must be a positive int or None, not True"),
        ("limits", {"channels": 2}, "limits must be a jobgraph_ssh.Limits or None, not {'c"),
        ("kill_grace", -1, "kill_grace must be a number >= 0, not -1"),
        ("kill_grace", math.inf, "kill_grace must be a number >= 0, not inf"),
    ],
)
def test_options_that_mean_nothing_are_refused_naming_the_field(
    field: str, value: object, message: str
) -> None:
    fields: dict[str, Any] = {field: value}
    with pytest.raises(jg.InvalidOptionError) as made:
        SshOptions(**fields)
    assert str(made.value).startswith(f"SshOptions: {message}")
    base = SshOptions()
    with pytest.raises(jg.InvalidOptionError) as replaced:  # replace() checks again
        dataclasses.replace(base, **fields)
    assert str(replaced.value) == str(made.value)
    with pytest.raises(jg.InvalidOptionError) as overridden:  # and so do a node's keywords
        SshNode("h", options=base, **fields)
    assert str(overridden.value).startswith(f"SshNode 'h': {message}")


def test_options_are_normalised_once_and_hide_the_passphrase(tmp_path: Path) -> None:
    options = SshOptions(keys=tmp_path / "k", known_hosts=str(tmp_path / "kh"), passphrase="s3")
    assert options.keys == (str(tmp_path / "k"),)
    assert options.known_hosts == tmp_path / "kh"
    assert "s3" not in repr(options)
    assert options == SshOptions(
        keys=[str(tmp_path / "k")], known_hosts=tmp_path / "kh", passphrase="s3"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.port = 2222  # type: ignore[misc]


def test_node_keywords_replace_fields_of_the_options_given(tmp_path: Path) -> None:
    lab = SshOptions(username="ops", port=2222, keys=["lab"], connect_timeout=5)
    node = SshNode("h", options=lab, port=2200, known_hosts=tmp_path / "kh")
    assert node.options == dataclasses.replace(lab, port=2200, known_hosts=tmp_path / "kh")
    assert lab.port == 2222  # the options given are not changed
    assert (node.username, node.port, node.keys) == ("ops", 2200, ["lab"])
    assert node.connect_timeout == 5
    assert node.known_hosts_path == tmp_path / "kh"
    assert node.name == "ops@h:2200"
    assert SshNode("h", options=lab).options is lab  # no keyword: the very object


def test_nodes_built_from_options_or_keywords_are_the_same(tmp_path: Path) -> None:
    fields: dict[str, Any] = {
        "username": "u",
        "port": 2222,
        "keys": [tmp_path / "k"],
        "passphrase": "p",
        "connect_timeout": None,
        "keepalive_interval": 15,
        "known_hosts": tmp_path / "kh",
        "host_key_policy": "accept-new",
        "max_channels": 3,
        "limits": Limits(channels=2, max_message=4096),
        "kill_group": False,
        "kill_grace": 0,
    }
    assert {field.name for field in dataclasses.fields(SshOptions)} == set(fields)
    by_options = SshNode("h", options=SshOptions(**fields))
    by_keywords = SshNode("h", **fields)
    assert by_options.options == by_keywords.options
    for name in [*fields, "keys", "known_hosts_path", "name"]:
        assert getattr(by_options, name) == getattr(by_keywords, name), name


def test_setting_a_node_attribute_replaces_its_option_checked() -> None:
    node = SshNode("h")
    node.port = 2201  # as the apssh drop-in's YAML nodes are given their port
    node.keys = ["k1", "k2"]
    assert node.options == SshOptions(port=2201, keys=("k1", "k2"))
    with pytest.raises(jg.InvalidOptionError, match=r"^SshNode 'h': port must be 1..65535"):
        node.port = 0
    assert node.port == 2201


def test_a_keyword_that_is_no_option_is_refused() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        SshNode("h", colour="red")
    with pytest.raises(jg.InvalidOptionError, match="options must be an SshOptions"):
        SshNode("h", options={"port": 22})  # type: ignore[arg-type]


def test_one_default_connect_timeout_for_nodes_and_the_command() -> None:
    assert SshOptions().connect_timeout == DEFAULT_CONNECT_TIMEOUT
    assert SshNode("h").connect_timeout == DEFAULT_CONNECT_TIMEOUT
    assert cli_parse(["-t", "h", "true"]).ssh.connect_timeout == DEFAULT_CONNECT_TIMEOUT


def test_the_command_builds_its_nodes_from_its_flags(tmp_path: Path) -> None:
    key = tmp_path / "id_test"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key))
    known = tmp_path / "kh"
    known.write_text("")
    options = cli_parse(
        ["-t", "n1 root@n2:2200", "-u", "ops", "-p", "2222", "-k", str(key), "-g", "gw",
         "-g", "me@gw2:2022", "--connect-timeout", "7", "--known-hosts", "accept-new",
         "--known-hosts-file", str(known), "true"]
    )  # fmt: skip
    flags = SshOptions(
        username="ops",
        port=2222,
        keys=[key],
        connect_timeout=7,
        known_hosts=known,
        host_key_policy="accept-new",
    )
    assert options.ssh == flags
    jobs = build(options, LineSink(None, keep=False, verbose=False)).jobs
    first, second = (job.node for job in jobs)
    assert isinstance(first, SshNode) and isinstance(second, SshNode)
    assert first.options == flags
    assert second.options == dataclasses.replace(flags, username="root", port=2200)
    gateway = first.gateway
    assert gateway is not None and gateway is second.gateway  # one chain, shared
    assert gateway.options == dataclasses.replace(flags, username="me", port=2022)
    assert gateway.gateway is not None
    assert gateway.gateway.options == dataclasses.replace(flags, port=22)  # -p is for targets
    assert gateway.gateway.gateway is None
