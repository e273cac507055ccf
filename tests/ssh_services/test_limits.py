"""The service socket's limits come from the job (``services_limits``), else from the
node (``SshOptions(limits=...)``), else from the process (``set_limits``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from jobgraph import services as sv
from jobgraph_ssh import Limits, SshJob, set_limits
from tests.ssh.conftest import Servers, make_node

from ._helpers import RAW_CLIENT, Echo, outcomes, python_script, run_jobs

pytestmark = pytest.mark.anyio


# announces a 50000-byte request, sends 100 bytes, and reports the reply
OVERSIZED = (
    RAW_CLIENT
    + """
sock = connect()
sock.sendall(struct.pack(">I", 50000) + b"x" * 100)
reply = read_reply(sock)
print(json.dumps({"tag": "oversized", "ok": True, "value": reply}), flush=True)
"""
)


@pytest.fixture
def process_limits() -> Iterator[Limits]:
    before = set_limits()
    yield before
    set_limits(**dataclasses.asdict(before))


async def refusal(hosts: Servers, *, node_limits: Any = None, **job_options: Any) -> str:
    """What the socket answers a 50000-byte request (its error message)."""
    node = make_node(hosts, 0, limits=node_limits)
    pool = sv.ServicePool([Echo()])
    job = SshJob(node, python_script(OVERSIZED), services=pool, **job_options)
    assert await run_jobs(pool, job)
    reply = outcomes(job)["oversized"]["value"]
    assert reply["ok"] is False and reply["error"]["kind"] == "protocol", reply
    return str(reply["error"]["message"])


async def test_a_node_service_limit_is_enforced_as_a_job_one_is(
    hosts: Servers, process_limits: Limits
) -> None:
    too_big = "50000 bytes exceeds the limit of 4096 bytes"
    small = Limits(max_message=4096)
    assert too_big in await refusal(hosts, services_limits=small)  # the job's, as before
    assert too_big in await refusal(hosts, node_limits=small)  # the node's, the same way
    # the job's limits win over the node's
    late = Limits(max_message=100_000, request_timeout=1.0)
    message = await refusal(hosts, node_limits=small, services_limits=late)
    assert "not received whole within 1 s" in message
    # a node without limits of its own: the process-wide ones
    set_limits(max_message=4096)
    assert too_big in await refusal(hosts)
    assert "not received whole within 1 s" in await refusal(hosts, node_limits=late)
