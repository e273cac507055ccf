"""What a host, or another local user, can do to the files of a run: nothing.

- staged scripts live in private folders, made with their final modes (local node: a
  folder another user made in the temporary directory is never used);
- a pulled tree stays inside its pull folder whatever names and symlinks a hostile
  server lists, and loses setuid/setgid bits; the pull folder is made 0700;
- remote files (staged scripts, PushFileService uploads) are asked for with private
  modes when they are made (the test server logs what each SFTP request asks for);
- ``accept-new`` makes ``~/.ssh`` 0700 and ``known_hosts`` 0600, as OpenSSH does.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import jobgraph as jg
from jobgraph import services as sv
from jobgraph_ssh import (
    CaptureFormatter,
    LocalNode,
    Pull,
    RunString,
    Shell,
    SshJob,
    close_all,
)
from jobgraph_ssh.services import PushFileService, host_of

from .conftest import ClientKey, Servers, make_node, start_asyncssh

pytestmark = pytest.mark.anyio

NOBODY = 65534


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture(scope="module")
def logged(
    tmp_path_factory: pytest.TempPathFactory, client_key: ClientKey
) -> Iterator[tuple[Servers, Path]]:
    """An asyncssh host logging each SFTP open and mkdir with the mode asked for."""
    directory = tmp_path_factory.mktemp("logged")
    log = directory / "sftp.log"
    with start_asyncssh(directory / "home", client_key, extra=("--sftp-log", str(log))) as hosts:
        yield hosts, log


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory, client_key: ClientKey) -> Iterator[Servers]:
    """An asyncssh host listing made-up names and symlinks (see ``_server.HOSTILE``)."""
    home = tmp_path_factory.mktemp("hostile") / "home"
    home.mkdir()
    for name in ("hostile-dotdot", "hostile-absolute-link", "hostile-up-link", "hostile-chain"):
        (home / name).mkdir()
    (home.parent / "escaped").write_text("owned")  # "hostile-dotdot/../../escaped"
    with start_asyncssh(home, client_key, extra=("--hostile-sftp",)) as hosts:
        yield hosts


def names(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def lexists(path: Path) -> bool:
    return os.path.lexists(path)


def links_leading_out(folder: Path) -> list[Path]:
    """The symlinks under ``folder`` that really lead outside it."""
    root = os.path.realpath(folder)
    found = []
    for path in folder.rglob("*"):
        if path.is_symlink():
            real = os.path.realpath(path)
            if real != root and not real.startswith(root + os.sep):
                found.append(path)
    return found


def requests(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


async def run_job(job: SshJob) -> bool:
    try:
        return await jg.Scheduler(job).run()
    finally:
        await close_all(job)


# -- local staging ----------------------------------------------------------------------

SHOW_PLACE = '#!/bin/sh\nd=$(dirname "$0")\necho "$d"\nstat -c \'%a %u\' "$d" "$0"\n'


async def test_local_scripts_are_staged_in_a_private_folder_not_a_shared_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "tmp"  # the temporary directory, as /tmp: 1777
    shared.mkdir()
    shared.chmod(0o1777)
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    planted = shared / "jobgraph-scripts"  # made by another user, open to all
    planted.mkdir()
    planted.chmod(0o777)
    os.chown(planted, NOBODY, NOBODY)
    umask = os.umask(0)  # the most open umask: modes come from the code alone
    try:
        job = SshJob(LocalNode(formatter=CaptureFormatter()), RunString(SHOW_PLACE))
        assert await run_job(job)
    finally:
        os.umask(umask)
    stdout = job.result()[0].stdout
    assert stdout is not None
    where, dir_line, script_line = stdout.splitlines()
    folder = Path(where)
    assert folder.parent == shared and folder != planted
    assert dir_line == f"700 {os.getuid()}"
    assert script_line == f"700 {os.getuid()}"
    assert names(planted) == []
    assert not lexists(folder)  # removed after the run


async def test_local_staging_folder_is_removed_when_staging_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    command = RunString("#!/bin/sh\n", includes=[tmp_path / "exists"])
    (tmp_path / "exists").mkdir()
    (tmp_path / "exists" / "unreadable").symlink_to(tmp_path / "nowhere")  # the copy fails
    job = SshJob(LocalNode(formatter=CaptureFormatter()), command, critical=False)
    await run_job(job)
    assert names(tmp_path) == ["exists"]


# -- remote file modes ------------------------------------------------------------------


async def test_remote_scripts_are_made_private_from_the_start(logged: tuple[Servers, Path]) -> None:
    hosts, log = logged
    before = len(requests(log))
    job = SshJob(make_node(hosts, formatter=CaptureFormatter()), RunString("#!/bin/sh\necho hi\n"))
    assert await run_job(job)
    made = requests(log)[before:]
    dirs = [r for r in made if r["op"] == "mkdir"]
    assert dirs and all(r["permissions"] == 0o700 for r in dirs), dirs
    writes = [r for r in made if r["op"] == "open" and r["write"]]
    assert [r["path"].rsplit("/", 1)[1] for r in writes] == ["script"]
    assert writes[0]["permissions"] == 0o700, writes


async def test_push_file_service_uploads_a_secret_private_from_the_start(
    logged: tuple[Servers, Path], tmp_path: Path
) -> None:
    hosts, log = logged
    secret = tmp_path / "token"
    secret.write_text("s3cret")
    secret.chmod(0o640)
    target = tmp_path / "remote" / "token"
    node = make_node(hosts)
    before = len(requests(log))
    try:
        async with sv.ServicePool([PushFileService([node])]) as pool:
            action = await pool.call(
                "PushFileService",
                "push",
                {"host": host_of(node), "path": str(secret), "remote_path": str(target)},
            )
    finally:
        await close_all(node)
    assert action == "uploaded"
    writes = [r for r in requests(log)[before:] if r["op"] == "open" and r["write"]]
    assert len(writes) == 1 and writes[0]["permissions"] is not None, writes
    assert writes[0]["permissions"] & 0o077 == 0, oct(writes[0]["permissions"])
    assert mode_of(target) == 0o640  # the final mode, once complete
    assert target.read_text() == "s3cret"


# -- pulled files -----------------------------------------------------------------------


async def test_pull_drops_setuid_and_makes_the_pull_folder_private(
    servers: Servers, tmp_path: Path
) -> None:
    home = servers.known_hosts.parent  # the asyncssh server's home
    tree = home / "suid-tree"
    tree.mkdir(exist_ok=True)
    tree.chmod(0o2755)  # setgid directory
    binary = tree / "tool"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o4755)
    single = home / "suid-single"
    single.write_text("x")
    single.chmod(0o6750)
    pulled = tmp_path / "pulled"
    job = SshJob(
        make_node(servers, formatter=CaptureFormatter()), Pull([str(tree), str(single)], pulled)
    )
    assert await run_job(job)
    assert mode_of(pulled / "suid-tree") == 0o755
    assert mode_of(pulled / "suid-tree" / "tool") == 0o755
    assert mode_of(pulled / "suid-single") == 0o750
    assert (pulled / "suid-tree" / "tool").read_text() == "#!/bin/sh\n"


async def test_local_pull_drops_setuid_of_another_users_file(tmp_path: Path) -> None:
    # as root, a copy of another user's setuid file would be a setuid-root binary
    source = tmp_path / "theirs"
    source.mkdir()
    tool = source / "tool"
    tool.write_text("#!/bin/sh\n")
    os.chown(tool, NOBODY, NOBODY)
    tool.chmod(0o4755)
    pulled = tmp_path / "pulled"
    umask = os.umask(0o022)
    os.umask(umask)
    for preserve in (True, False):
        job = SshJob(
            LocalNode(formatter=CaptureFormatter()),
            Pull([str(source), str(tool)], pulled / str(preserve), preserve=preserve),
        )
        assert await run_job(job)
        # preserved: the mode less its setuid bit; not: the default mode, as over SFTP
        expected = 0o755 if preserve else 0o666 & ~umask
        assert mode_of(pulled / str(preserve) / "theirs" / "tool") == expected
        assert mode_of(pulled / str(preserve) / "tool") == expected
        assert (pulled / str(preserve) / "tool").stat().st_uid == os.getuid()
        assert mode_of(pulled / str(preserve)) == 0o700


async def test_pull_folder_mode_can_be_asked_for(servers: Servers, tmp_path: Path) -> None:
    home = servers.known_hosts.parent
    (home / "plain.txt").write_text("plain")
    pulled = tmp_path / "shared-pull"
    command = Pull(str(home / "plain.txt"), pulled, dir_mode=0o755)
    assert await run_job(SshJob(make_node(servers, formatter=CaptureFormatter()), command))
    assert mode_of(pulled) == 0o755
    with pytest.raises(jg.InvalidOptionError, match="dir_mode"):
        Pull("x", "y", dir_mode=0o4755)


@pytest.mark.parametrize(
    ("listing", "reason"),
    [
        ("hostile-dotdot", "refusing the name '../../escaped'"),
        ("hostile-absolute-link", "refusing the symlink"),
        ("hostile-up-link", "refusing the symlink"),
        ("hostile-chain", "lead outside"),
    ],
)
async def test_pull_never_writes_outside_its_folder_whatever_the_server_lists(
    hostile: Servers, tmp_path: Path, listing: str, reason: str
) -> None:
    outside = tmp_path / "work"
    pulled = outside / "a" / "pulled"
    node = make_node(hostile, formatter=CaptureFormatter())
    job = SshJob(node, Pull(listing, pulled), critical=False)
    await run_job(job)
    # nothing written next to the pull folder, nor above it
    assert names(outside / "a") == ["pulled"]
    assert names(outside) == ["a"]
    assert names(tmp_path) == ["work"]
    assert links_leading_out(pulled) == []
    assert job.exception is not None
    assert reason in str(job.exception)


async def test_pull_recreates_symlinks_that_stay_inside(servers: Servers, tmp_path: Path) -> None:
    home = servers.known_hosts.parent
    tree = home / "linked-tree"
    (tree / "sub").mkdir(parents=True, exist_ok=True)
    (tree / "data.txt").write_text("data")
    link = tree / "sub" / "to-data"
    if not link.is_symlink():
        link.symlink_to("../data.txt")
    pulled = tmp_path / "pulled"
    job = SshJob(make_node(servers, formatter=CaptureFormatter()), Pull(str(tree), pulled))
    assert await run_job(job)
    copied = pulled / "linked-tree" / "sub" / "to-data"
    assert copied.is_symlink() and os.readlink(copied) == "../data.txt"
    assert copied.read_text() == "data"


# -- known_hosts ------------------------------------------------------------------------


async def test_accept_new_makes_ssh_folder_and_known_hosts_private(
    servers: Servers, tmp_path: Path
) -> None:
    known = tmp_path / "home" / ".ssh" / "known_hosts"
    node = make_node(
        servers, known_hosts=known, host_key_policy="accept-new", formatter=CaptureFormatter()
    )
    assert await run_job(SshJob(node, Shell("true")))
    assert known.read_text().count("ssh-ed25519") == 1
    assert mode_of(known.parent) == 0o700
    assert mode_of(known) == 0o600
