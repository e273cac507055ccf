"""Files: Push and Pull over SFTP, RunScript and RunString, on every kind of node."""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path

import anyio
import pytest

import jobgraph as jg
from jobgraph_ssh import (
    CaptureFormatter,
    CommandFailedError,
    CommandTimeoutError,
    Node,
    Pull,
    Push,
    RunScript,
    RunString,
    Shell,
    SshJob,
    close_all,
)
from jobgraph_ssh.lowlevel import StagedCommand

from .conftest import Servers, make_node, node_for

pytestmark = pytest.mark.anyio

NODE_KINDS = ["asyncssh", "sshd", "local"]


@pytest.fixture(params=NODE_KINDS)
def node(request: pytest.FixtureRequest) -> Node:
    index = 3 if request.param == "asyncssh" else 0
    return node_for(request, request.param, index, formatter=CaptureFormatter())


async def run_job(job: SshJob) -> bool:
    try:
        return await jg.Scheduler(job).run()
    finally:
        await close_all(job)


def make_tree(root: Path) -> Path:
    (root / "tree" / "sub").mkdir(parents=True)
    (root / "tree" / "a.txt").write_text("alpha\n")
    (root / "tree" / "sub" / "b.sh").write_text("#!/bin/sh\necho beta\n")
    (root / "tree" / "sub" / "b.sh").chmod(0o741)
    os.utime(root / "tree" / "a.txt", (1_000_000_000, 1_000_000_000))
    (root / "single.txt").write_text("single\n")
    return root


async def test_push_then_pull_keeps_contents_modes_and_times(node: Node, tmp_path: Path) -> None:
    local = make_tree(tmp_path / "local")
    remote = tmp_path / "remote dir"  # a space: paths are not shell-parsed
    back = tmp_path / "back"
    job = SshJob(
        node,
        Push([local / "tree", local / "single.txt"], str(remote)),
        Shell(f"stat -c %a '{remote}/tree/sub/b.sh'; '{remote}/tree/sub/b.sh'"),
        Pull([f"{remote}/tree", f"{remote}/single.txt"], back),
    )
    assert await run_job(job), job.exception
    results = job.result()
    assert [r.exit_status for r in results] == [0, 0, 0]
    assert results[1].stdout == "741\nbeta\n"
    assert (back / "single.txt").read_text() == "single\n"
    assert (back / "tree" / "sub" / "b.sh").stat().st_mode & 0o777 == 0o741
    assert (back / "tree" / "a.txt").stat().st_mtime == 1_000_000_000
    assert results[0].command.startswith("push ")


async def test_run_script_with_includes_and_arguments(node: Node, tmp_path: Path) -> None:
    script = tmp_path / "greet.sh"
    script.write_text('#!/bin/sh\nprintf "%s|" "$@"; cat "$(dirname "$0")/data.txt"\n')
    data = tmp_path / "data.txt"
    data.write_text("included\n")
    job = SshJob(node, RunScript(script, "a b", "c;d", includes=[data]))
    assert await run_job(job), job.exception
    result = job.result()[0]
    assert result.stdout == "a b|c;d|included\n"
    assert result.command == "greet.sh 'a b' 'c;d'"


async def test_run_string_runs_a_script_body(node: Node) -> None:
    job = SshJob(
        node,
        RunString('#!/bin/sh\necho "got $# args: $1"\nexit 5\n', "x y", allowed_exits=[5]),
    )
    assert await run_job(job), job.exception
    assert job.result()[0].stdout == "got 1 args: x y\n"
    assert job.result()[0].exit_status == 5


async def test_scripts_leave_nothing_behind(servers: Servers) -> None:
    node = make_node(servers, 3, formatter=CaptureFormatter())
    job = SshJob(node, RunString("#!/bin/sh\ntrue\n"), RunString("#!/bin/sh\ntrue\n"))
    assert await run_job(job)
    staging = servers.known_hosts.parent / ".jobgraph-scripts"  # the server's home
    assert list(staging.iterdir()) == []


async def test_missing_local_file_fails_the_command_naming_it(node: Node, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.txt"
    job = SshJob(node, Push([missing], str(tmp_path / "dest")), Shell("echo never"))
    assert not await run_job(job)
    error = job.exception
    assert isinstance(error, CommandFailedError)
    assert str(missing) in str(error) and node.name in str(error)
    assert len(error.results) == 1


async def test_unwritable_remote_path_fails_the_command(node: Node, tmp_path: Path) -> None:
    source = tmp_path / "f.txt"
    source.write_text("x")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    job = SshJob(node, Push([source], str(blocker / "sub")), critical=False)
    assert await jg.Scheduler(job).run()
    await close_all(job)
    error = job.exception
    assert isinstance(error, CommandFailedError)
    assert "blocker" in str(error)


async def test_push_and_pull_without_preserve_keep_neither_modes_nor_times(
    node: Node, tmp_path: Path
) -> None:
    """Bug: ``preserve=False`` ignored: modes and times kept although the user said not
    to. Without it, copies are new files: fresh times, the receiving side's default mode."""
    local = make_tree(tmp_path / "local")
    remote = tmp_path / "remote"
    back = tmp_path / "back"
    job = SshJob(
        node,
        Push([local / "tree"], str(remote), preserve=False),
        Shell(f"stat -c '%a %Y' '{remote}/tree/sub/b.sh' '{remote}/tree/a.txt'"),
        Pull([f"{local}/tree"], back, preserve=False),  # the node's copy of the source
    )
    before = time.time()
    assert await run_job(job), job.exception
    [(mode_b, mtime_b), (_, mtime_a)] = [
        line.split() for line in job.result()[1].stdout.splitlines()
    ]
    # the source's 741 and its year-2001 time were not kept, either way
    assert mode_b != "741" and int(mtime_b) >= int(before) - 1
    assert int(mtime_a) >= int(before) - 1
    assert (back / "tree" / "sub" / "b.sh").stat().st_mode & 0o777 != 0o741
    assert (back / "tree" / "a.txt").stat().st_mtime >= before - 1
    assert (back / "tree" / "sub" / "b.sh").read_text() == "#!/bin/sh\necho beta\n"


# asyncssh (2.24) may leave the local file of a cancelled pull open (its copier closes
# the remote file first): collected here, not in a later test, and not a failure here
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("direction", ["push", "pull"])
@pytest.mark.parametrize("kind", ["asyncssh", "sshd"])
async def test_a_copy_longer_than_its_timeout_is_cut_off(
    kind: str,
    direction: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Bug: ``timeout=`` of Push and Pull ignored: a copy that outlasts it goes on.
    16 MB cannot cross SFTP in 10 ms: the job fails with the timeout, naming the copy;
    and asyncssh's transfer tasks cut short print no "Task exception was never
    retrieved" tracebacks on the user's stderr."""
    servers: Servers = request.getfixturevalue("servers" if kind == "asyncssh" else "sshd")
    node = make_node(servers, 3 if kind == "asyncssh" else 0, formatter=CaptureFormatter())
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (16 * 1024 * 1024))  # not sparse: asyncssh skips holes
    warm = SshJob(node, Shell("true"), label="connect")  # the copy alone is timed
    copy: Push | Pull
    if direction == "push":
        copy = Push([big], str(tmp_path / "remote"), timeout=0.01)
    else:
        copy = Pull([str(big)], tmp_path / "back", timeout=0.01)
    job = SshJob(node, copy, requires=warm, critical=False, label="copy")
    scheduler = jg.Scheduler(warm, job)
    try:
        with anyio.fail_after(60):
            assert await scheduler.run()
    finally:
        await close_all(scheduler)
    assert isinstance(job.exception, CommandTimeoutError), job.exception
    assert job.exception.timeout == 0.01
    assert direction in str(job.exception)
    gc.collect()
    await anyio.sleep(0.1)  # the tasks cut short end, and are collected
    gc.collect()
    noise = [r.getMessage() for r in caplog.records if "never retrieved" in r.getMessage()]
    assert noise == []


class Greeting(StagedCommand):
    """A command kind of one's own, on the seam: a script given as text or as a file."""

    def __init__(self, *args: object, body: str | None = None, script: Path | None = None) -> None:
        self.script_name = script.name if script is not None else "greet"
        super().__init__(
            args,
            (),
            allowed_exits=(),
            env=None,
            timeout=None,
            label=None,
            capture=None,
            local_script=script,
            body=body,
        )


async def test_an_own_staged_command_stages_its_body_or_its_file(
    node: Node, tmp_path: Path
) -> None:
    script = tmp_path / "hello.sh"
    script.write_text('#!/bin/sh\necho "file $1"\n')
    job = SshJob(
        node,
        Greeting("one", body='#!/bin/sh\necho "body $1"\n'),
        Greeting("two", script=script),
    )
    assert await run_job(job), job.exception
    assert [result.stdout for result in job.result()] == ["body one\n", "file two\n"]
    assert [result.command for result in job.result()] == ["greet one", "hello.sh two"]
    missing = Greeting(script=tmp_path / "nowhere.sh")
    assert missing.missing_local() == [str(tmp_path / "nowhere.sh")]
