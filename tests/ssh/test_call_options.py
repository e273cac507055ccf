"""Call's options beyond timeout and label: ``env``, ``capture``; and the output of
a function's background children, which belongs to no later call.

Each behaviour is checked on a LocalNode, on the loopback asyncssh servers and on
OpenSSH's sshd, under asyncio and trio.
"""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import jobgraph as jg
from jobgraph_ssh import (
    Call,
    Capture,
    CaptureFormatter,
    Deferred,
    LocalNode,
    Node,
    RemoteError,
    Run,
    SshJob,
    SshNode,
    Variables,
)

from .test_call import run_job

PROBES = """
import os
import subprocess
import sys
import time

NAMES = ["CALLENV_A", "CALLENV_B", "CALLENV_LEFT"]


def read_env(change=False):
    seen = {name: os.environ.get(name) for name in NAMES}
    child = subprocess.run(
        [sys.executable, "-c", "import os, sys; print(os.environ.get(sys.argv[1]))", "CALLENV_A"],
        stdout=subprocess.PIPE,
        check=True,
    )
    if change:  # the function changes the environment itself: put back after the call
        os.environ["CALLENV_LEFT"] = "left behind"
        os.environ.pop("CALLENV_B", None)
    return [os.getpid(), seen, child.stdout.decode().strip()]


def service():
    return {"name": "web", "port": 8080, "tags": ("a", "b")}


def fails():
    raise ValueError("no value")


def start_background_child(flag):
    # (on a LocalNode the call's interpreter is gone by then: writes fail, EPIPE)
    script = "trap '' PIPE; sleep 0.3; echo LATE-OUT; echo LATE-ERR >&2; : > " + flag
    subprocess.Popen(["sh", "-c", script])
    print("first")
    return "started"


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def wait_for(flag):
    deadline = time.monotonic() + 30
    while not os.path.exists(flag) and time.monotonic() < deadline:
        time.sleep(0.02)
    print("second")
    return os.path.exists(flag)
"""


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """A module importable here only (the node's interpreter gets it from us)."""
    root = tmp_path_factory.mktemp("callopts")
    name = f"callopts_{os.getpid()}"
    (root / f"{name}.py").write_text(textwrap.dedent(PROBES))
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(str(root))
        sys.modules.pop(name, None)


# -- env --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_call_env_is_seen_by_the_function_and_its_children_not_by_later_calls(
    node: Node, probes: ModuleType
) -> None:
    env = {"CALLENV_A": "one two 'three' $four", "CALLENV_B": "b"}
    job = SshJob(
        node,
        Call(probes.read_env, change=True).options(env=env),
        Call(probes.read_env),
    )
    await run_job(job)
    first, second = job.result()
    pid, seen, child = first.value
    assert seen == {**env, "CALLENV_LEFT": None}
    assert child == env["CALLENV_A"]  # a process the function starts sees it too
    later_pid, later_seen, later_child = second.value
    # the next call on the same interpreter finds the environment as it was before
    assert later_seen == dict.fromkeys(later_seen)
    assert later_child == "None"
    if isinstance(node, SshNode):
        assert later_pid == pid  # one interpreter for both calls


def test_env_option_is_checked_naming_the_bad_name_or_value(probes: ModuleType) -> None:
    call = Call(probes.read_env)
    with pytest.raises(jg.InvalidOptionError, match="'1st' is not a variable name"):
        call.options(env={"1st": "x"})
    with pytest.raises(jg.InvalidOptionError, match="value of GOOD must be a string, not None"):
        call.options(env={"GOOD": None})  # type: ignore[dict-item]
    with pytest.raises(jg.InvalidOptionError, match="value of BAD holds a NUL"):
        call.options(env={"BAD": "a\0b"})
    with pytest.raises(jg.InvalidOptionError, match="env must be a mapping"):
        call.options(env=["CALLENV_A"])  # type: ignore[arg-type]
    # the same checks as Run's: one rule for every command
    with pytest.raises(jg.InvalidOptionError, match="value of GOOD must be a string, not None"):
        Run("true", env={"GOOD": None})  # type: ignore[dict-item]
    assert Call(probes.read_env).options(env={"N": 5}).env == {"N": "5"}  # type: ignore[dict-item]
    kept = call.options(env={"A": "1"}).options(timeout=3)
    assert kept.env == {"A": "1"} and kept.timeout == 3
    assert call.env is None  # options() makes a new Call


# -- capture ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_call_capture_gives_the_value_to_a_later_deferred_command(
    node: Node, probes: ModuleType
) -> None:
    variables = Variables()
    call = SshJob(node, Call(probes.service).options(capture=Capture("svc", variables)))
    template = "{{ svc.name }}:{{ svc.port + 1 }}:{{ svc.tags | join(',') }}"
    use = SshJob(node, Run("echo", Deferred(template, variables)), requires=call)
    await run_job(call, use)
    assert variables["svc"] == {"name": "web", "port": 8080, "tags": ("a", "b")}
    assert use.result()[0].stdout == "web:8081:a,b\n"


@pytest.mark.anyio
async def test_call_capture_is_left_unset_when_the_function_raises(probes: ModuleType) -> None:
    node = LocalNode(formatter=CaptureFormatter())
    variables = Variables()
    job = SshJob(node, Call(probes.fails).options(capture=Capture("v", variables)))
    await run_job(job)
    assert isinstance(job.exception, RemoteError)
    assert "v" not in variables


# -- output of children left running ----------------------------------------------------------


@pytest.mark.anyio
async def test_late_output_of_a_background_child_is_not_taken_for_the_next_calls(
    node: Node, formatter: CaptureFormatter, probes: ModuleType, tmp_path: Path
) -> None:
    flag = str(tmp_path / "written")
    job = SshJob(
        node, Call(probes.start_background_child, flag), Call(probes.wait_for, flag), Call(len, "x")
    )
    await run_job(job)
    first, second, third = job.result()
    assert first.value == "started" and first.stdout == "first\n"
    assert second.value is True  # the child wrote during the second call
    assert second.stdout == "second\n"
    assert "LATE" not in (second.stderr or "")
    assert third.value == 1
    assert not [line for line in formatter.lines if "LATE" in line[2]]


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["asyncssh"])
async def test_pipes_of_finished_calls_are_closed(node: Node, probes: ModuleType) -> None:
    job = SshJob(node, *[Call(probes.open_fds) for _ in range(40)])
    await run_job(job)
    counts = [result.value for result in job.result()]
    # each call opens two pipes; those of the calls before are closed (the last one's
    # may not be noticed yet when the next call looks)
    assert max(counts) <= counts[0] + 4, counts
