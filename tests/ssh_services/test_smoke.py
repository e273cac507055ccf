from __future__ import annotations

import pytest

import jobgraph as jg
from jobgraph import services as sv
from jobgraph_ssh import Shell, SshJob, close_all
from tests.ssh.conftest import Servers, make_node


class Echo(sv.Service):
    @sv.expose(sv.AllowAny())
    def echo(self, text: str) -> str:
        return text.upper()


@pytest.mark.anyio
async def test_smoke(hosts: Servers) -> None:
    pool = sv.ServicePool([Echo()])
    serve = pool.job()
    node = make_node(hosts, 0)
    job = SshJob(
        node,
        Shell('python3 "$JOBGRAPH_CALL" call Echo echo text=hello'),
        services=pool,
        requires=serve,
    )
    try:
        assert await jg.Scheduler(serve, job).run()
    finally:
        await close_all(job)
    print(job.result()[0].stdout)
    assert job.result()[0].stdout == '"HELLO"\n'
