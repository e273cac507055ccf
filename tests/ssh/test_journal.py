"""An SSH pipeline resumes from a run journal: only the failed hosts' jobs run again,
and the others' command results come back from the journal."""

from __future__ import annotations

from pathlib import Path

import pytest

import jobgraph as jg
from jobgraph.journal import Journal
from jobgraph_ssh import CommandResult, Shell, SshJob, close_all

from .conftest import Servers, make_node

pytestmark = pytest.mark.anyio


def pipeline(servers: Servers, tmp_path: Path) -> jg.Scheduler:
    """One job per host: it logs its run, then succeeds only if its flag file exists."""
    scheduler = jg.Scheduler(label="fleet")
    for index in range(2):
        node = make_node(servers, index)
        SshJob(
            node,
            Shell(f"echo ran >> {tmp_path}/log-{index}; echo hello-{index}"),
            Shell(f"test -e {tmp_path}/flag-{index}"),
            label=f"host{index}",
            critical=False,
            scheduler=scheduler,
        )
    return scheduler


async def test_only_the_failed_hosts_jobs_run_again(servers: Servers, tmp_path: Path) -> None:
    journal = tmp_path / "runs.db"
    (tmp_path / "flag-0").touch()
    first = pipeline(servers, tmp_path)
    try:
        await first.run(journal=journal)
    finally:
        await close_all(first)
    assert [job.outcome for job in first.jobs] == ["ok", "failed"]
    (tmp_path / "flag-1").touch()
    second = pipeline(servers, tmp_path)
    try:
        assert await second.run(journal=journal, resume=True)
    finally:
        await close_all(second)
    assert (tmp_path / "log-0").read_text() == "ran\n"  # restored, not run again
    assert (tmp_path / "log-1").read_text() == "ran\nran\n"
    restored = second.jobs[0].result()
    assert restored == first.jobs[0].result()
    assert isinstance(restored[0], CommandResult)
    assert restored[0].stdout is not None and "hello-0" in restored[0].stdout
    assert "↺ restored" in second.list_text()
    assert Journal(journal).runs()[-1].counts == {"ok": 1, "restored": 1}
