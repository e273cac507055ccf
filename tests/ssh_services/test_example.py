"""examples/file_service.py, run on loopback hosts: allowed hosts download, one is refused."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import anyio
import pytest

from jobgraph_ssh import CommandFailedError, close_all
from jobgraph_ssh.services import host_of
from tests.ssh.conftest import Servers, make_node

pytestmark = pytest.mark.anyio

EXAMPLE = Path(__file__).parents[2] / "examples" / "file_service.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("file_service_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def test_file_service_example(hosts: Servers, tmp_path: Path) -> None:
    example = load_example()
    served = tmp_path / "served"
    served.mkdir()
    small = served / "motd"
    small.write_text("welcome\n")
    big = served / "tool.bin"
    big.write_bytes(os.urandom(700_000))  # several chunks
    big.chmod(0o755)
    secret = served / "not-registered"
    secret.write_text("private")
    allowed = [make_node(hosts, i) for i in range(3)]
    denied = [make_node(hosts, 3)]
    dest = str(tmp_path / "dest" / "{host}")
    scheduler, service, jobs = example.build(allowed, denied, [str(small), str(big)], dest)
    try:
        with anyio.fail_after(60):
            await scheduler.run()
    finally:
        await close_all(jobs)
    for node, job in zip(allowed, jobs, strict=False):
        assert job.exception is None, job.exception
        where = tmp_path / "dest" / host_of(node).replace(":", "_")
        assert (where / "motd").read_text() == "welcome\n"
        assert (where / "tool.bin").read_bytes() == big.read_bytes()
        assert (where / "tool.bin").stat().st_mode & 0o777 == 0o755
    refused = jobs[-1].exception
    assert isinstance(refused, CommandFailedError)
    assert "AccessDeniedError" in refused.stderr_tail[-1]
    assert "remote callers on the hosts the file service allows" in refused.stderr_tail[-1]
    assert not (tmp_path / "dest" / host_of(denied[0]).replace(":", "_") / "motd").exists()
    # only registered files are served, even to an allowed host
    with pytest.raises(FileNotFoundError, match="is not registered"):
        service.stat(str(secret))
