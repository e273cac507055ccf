"""PushFileService: hash once, skip hosts up to date, upload atomically, relay."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import anyio
import pytest

from jobgraph import services as sv
from jobgraph_ssh import SshNode, close_all
from jobgraph_ssh.services import PushFileService, host_of, push_to_all
from tests.ssh.conftest import Servers, make_node

pytestmark = pytest.mark.anyio


def make_file(path: Path, size: int, mode: int = 0o750) -> bytes:
    data = secrets.token_bytes(size)
    path.write_bytes(data)
    path.chmod(mode)
    return data


def mode_of(path: Path) -> int:
    return path.stat().st_mode & 0o7777


async def test_push_skips_up_to_date_hosts_and_replaces_stale_ones(
    hosts: Servers, tmp_path: Path
) -> None:
    local = tmp_path / "app.bin"
    data = make_file(local, 200_000)
    targets = [tmp_path / f"h{i}" / "app.bin" for i in range(4)]
    for target in targets:
        target.parent.mkdir()
    targets[0].write_bytes(data)  # up to date
    targets[0].chmod(0o750)
    targets[1].write_bytes(b"old version")  # stale
    targets[1].chmod(0o644)
    targets[3].write_bytes(data)  # the same content, another mode
    targets[3].chmod(0o600)
    up_to_date_inode = targets[0].stat().st_ino
    nodes = [make_node(hosts, i) for i in range(4)]
    service = PushFileService(nodes)
    try:
        async with sv.ServicePool([service]) as pool:
            actions = []
            for node, target in zip(nodes, targets, strict=True):
                actions.append(
                    await pool.call(
                        "PushFileService",
                        "push",
                        {"host": host_of(node), "path": str(local), "remote_path": str(target)},
                    )
                )
    finally:
        await close_all(nodes)
    assert actions == ["skipped", "uploaded", "uploaded", "mode"]
    for target in targets:
        assert target.read_bytes() == data
        assert mode_of(target) == 0o750
    assert targets[0].stat().st_ino == up_to_date_inode  # not rewritten
    assert service.stats.hashed == 1
    assert service.stats.bytes_sent == 2 * len(data)
    assert (service.stats.skipped, service.stats.uploaded, service.stats.mode_fixed) == (1, 2, 1)
    assert sorted(p.name for p in targets[1].parent.iterdir()) == ["app.bin"]  # no leftovers


async def test_concurrent_pushes_of_one_file_to_one_host_upload_once(
    hosts: Servers, tmp_path: Path
) -> None:
    local = tmp_path / "tool"
    data = make_file(local, 1_000_000, 0o755)
    target = tmp_path / "out" / "tool"
    node = make_node(hosts, 1)
    service = PushFileService([node])
    results: list[object] = []
    try:
        async with sv.ServicePool([service]) as pool:

            async def one() -> None:
                outcome = await push_to_all(pool, str(local), str(target), [node])
                results.append(outcome[host_of(node)])

            async with anyio.create_task_group() as group:
                for _ in range(10):
                    group.start_soon(one)
    finally:
        await close_all([node])
    assert results == ["uploaded"] * 10
    assert service.stats.uploaded == 1 and service.stats.hashed == 1
    assert target.read_bytes() == data and mode_of(target) == 0o755


async def test_an_interrupted_upload_leaves_no_half_written_file(
    hosts: Servers, tmp_path: Path
) -> None:
    local = tmp_path / "big.img"
    make_file(local, 48 * 1024 * 1024, 0o644)
    directory = tmp_path / "dest"
    directory.mkdir()
    target = directory / "big.img"
    target.write_bytes(b"the old image")
    node = make_node(hosts, 2)
    service = PushFileService([node])
    try:
        async with sv.ServicePool([service]) as pool, anyio.create_task_group() as group:

            async def push() -> None:
                await pool.call(
                    "PushFileService",
                    "push",
                    {"host": host_of(node), "path": str(local), "remote_path": str(target)},
                )

            group.start_soon(push)
            with anyio.fail_after(20):  # wait until the upload is under way
                while not any(p.name.endswith(".tmp") for p in directory.iterdir()):  # noqa: ASYNC110
                    await anyio.sleep(0.005)
            group.cancel_scope.cancel()
    finally:
        await close_all([node])
    assert target.read_bytes() == b"the old image"
    assert [p.name for p in directory.iterdir()] == ["big.img"]  # the temporary file is gone
    assert service.stats.uploaded == 0


async def test_push_relays_through_a_gateway_that_holds_the_file(
    hosts: Servers, tmp_path: Path
) -> None:
    local = tmp_path / "pkg.tar"
    data = make_file(local, 300_000, 0o640)
    gateway = make_node(hosts, 3)
    behind: list[SshNode] = [make_node(hosts, i, gateway=gateway) for i in (0, 1)]
    # -O: the classic scp protocol (an exec "scp -t"): the test server's SFTP sessions
    # end without an exit status, which OpenSSH's scp takes for a failure
    relay = (
        "scp -O -q -o BatchMode=yes -o StrictHostKeyChecking=yes "
        f"-o UserKnownHostsFile={hosts.known_hosts} -i {hosts.client_key} "
        "-P {port} {source} {user}@{hostname}:{target}"
    )
    service = PushFileService(behind, relay=relay, relay_dir=str(tmp_path / "relay"))
    targets = [tmp_path / f"b{i}" / "pkg.tar" for i in range(2)]
    for target in targets:
        target.parent.mkdir()
    try:
        async with sv.ServicePool([service]) as pool:
            actions = []
            for node, target in zip(behind, targets, strict=True):
                actions.append(
                    await pool.call(
                        "PushFileService",
                        "push",
                        {"host": host_of(node), "path": str(local), "remote_path": str(target)},
                    )
                )
    finally:
        await close_all(behind)
    assert actions == ["relayed", "relayed"]
    for target in targets:
        assert target.read_bytes() == data and mode_of(target) == 0o640
    assert service.stats.uploaded == 1  # to the gateway only
    assert service.stats.bytes_sent == len(data)
    assert (tmp_path / "relay").is_dir() and len(os.listdir(tmp_path / "relay")) == 1


async def test_push_to_an_unknown_host_or_a_missing_file_fails_naming_it(
    hosts: Servers, tmp_path: Path
) -> None:
    node = make_node(hosts, 0)
    service = PushFileService([node])
    try:
        async with sv.ServicePool([service]) as pool:
            with pytest.raises(LookupError, match="no node 'elsewhere' to push to"):
                await pool.call(
                    "PushFileService",
                    "push",
                    {"host": "elsewhere", "path": __file__, "remote_path": "x"},
                )
            missing = str(tmp_path / "missing")
            with pytest.raises(FileNotFoundError, match=f"cannot push {missing}"):
                await pool.call(
                    "PushFileService",
                    "push",
                    {"host": host_of(node), "path": missing, "remote_path": "x"},
                )
    finally:
        await close_all([node])


async def test_an_upload_that_cannot_be_put_in_place_fails_and_leaves_nothing(
    hosts: Servers, tmp_path: Path
) -> None:
    local = tmp_path / "tool"
    make_file(local, 1024)
    directory = tmp_path / "dest"
    (directory / "tool" / "inside").mkdir(parents=True)  # the target is a directory
    node = make_node(hosts, 1)
    try:
        async with sv.ServicePool([PushFileService([node])]) as pool:
            target = str(directory / "tool")
            with pytest.raises(OSError, match=f"upload to {node.name}:{target} failed: "):
                await pool.call(
                    "PushFileService",
                    "push",
                    {"host": host_of(node), "path": str(local), "remote_path": target},
                )
    finally:
        await close_all([node])
    with anyio.fail_after(10):  # the temporary file is removed (in a task of its own)
        while [p.name for p in directory.iterdir()] != ["tool"]:  # noqa: ASYNC110
            await anyio.sleep(0.01)
    assert [p.name for p in (directory / "tool").iterdir()] == ["inside"]
