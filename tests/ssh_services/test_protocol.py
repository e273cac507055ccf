"""The wire protocol under abuse, callers of ended jobs, and many callers at once."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import anyio
import pytest

from jobgraph import services as sv
from jobgraph_ssh import Shell, SshJob
from jobgraph_ssh.services import ServiceLimits
from tests.ssh.conftest import Servers, make_node

from ._helpers import RAW_CLIENT, Echo, outcomes, python_script, run_jobs

pytestmark = pytest.mark.anyio


RAW = (
    RAW_CLIENT
    + """
def exchange(tag, data, shut=False):
    sock = connect()
    sock.sendall(data)
    if shut:
        sock.shutdown(socket.SHUT_WR)
    started = time.monotonic()
    reply = read_reply(sock)
    # after a refusal the controller hangs up; after an answer it waits for more
    closed = sock.recv(1) == b"" if reply is None or not reply["ok"] else False
    print(json.dumps({"tag": tag, "ok": True, "value": {
        "reply": reply, "closed": closed, "seconds": time.monotonic() - started}}), flush=True)
    sock.close()

secret = open(os.environ["JOBGRAPH_SERVICES_SECRET_FILE"]).read().strip()
good = {"v": 1, "id": 7, "secret": secret, "service": "Echo", "method": "echo",
        "kwargs": {"text": "hi"}, "timeout": None}
exchange("not_json", frame(b"{not json"))
exchange("not_object", frame(b"[1, 2]"))
exchange("version", frame(json.dumps(dict(good, v=99)).encode()))
exchange("no_kwargs", frame(json.dumps(dict(good, kwargs=[1])).encode()))
exchange("oversized", struct.pack(">I", 50000) + b"x" * 100)
exchange("truncated", struct.pack(">I", 100) + b"x" * 10, shut=True)

# a slow-loris caller starts, and others go on meanwhile
slow = threading.Thread(target=exchange, args=("slow", struct.pack(">I", 100) + b"{"))
slow.start()
time.sleep(0.1)
started = time.monotonic()
for n in range(5):
    attempt("during_%d" % n, jc.call, "Echo", "echo", text="n%d" % n)
print(json.dumps({"tag": "during_time", "ok": True, "value": time.monotonic() - started}))
slow.join()
exchange("good", frame(json.dumps(good).encode()))
"""
)


async def test_malformed_oversized_truncated_and_slow_requests_are_refused(
    hosts: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="jobgraph_ssh.services")
    node = make_node(hosts, 0)
    pool = sv.ServicePool([Echo()])
    limits = ServiceLimits(max_message=4096, request_timeout=1.0)
    job = SshJob(node, python_script(RAW), services=pool, services_limits=limits)
    assert await run_jobs(pool, job)
    seen = {tag: record["value"] for tag, record in outcomes(job).items()}

    def refusal(tag: str) -> str:
        reply = seen[tag]["reply"]
        assert reply["ok"] is False and reply["error"]["kind"] == "protocol", reply
        assert seen[tag]["closed"], f"{tag}: the connection stays open"
        return str(reply["error"]["message"])

    assert "not JSON" in refusal("not_json")
    assert "not a JSON object" in refusal("not_object")
    assert "version 99 is not supported" in refusal("version")
    assert "'kwargs' must be a dict" in refusal("no_kwargs")
    assert "50000 bytes exceeds the limit of 4096 bytes" in refusal("oversized")
    assert seen["truncated"]["reply"] is None  # closed mid-request: nothing to answer
    assert "not received whole within 1 s" in refusal("slow")
    assert 0.8 < seen["slow"]["seconds"] < 5
    # the others were served meanwhile, promptly, and the endpoint still serves
    assert [seen[f"during_{n}"] for n in range(5)] == [f"n{n}" for n in range(5)]
    assert seen["during_time"] < 1.0
    assert seen["good"]["reply"] == {"v": 1, "id": 7, "ok": True, "result": "hi"}
    logged = [r.getMessage() for r in caplog.records if r.name == "jobgraph_ssh.services"]
    assert len(logged) == 7, logged
    assert all(message.startswith(f"services on {node.name}: refused") for message in logged)
    assert any("in the middle of a request" in message for message in logged)
    assert pool.stats()[("Echo", "echo")].calls == 6  # refused requests never reach the pool


LATE_CALLER = """\
import json, os, sys, time
sys.path.insert(0, os.path.dirname(os.environ["JOBGRAPH_CALL"]))
import jobgraph_call as jc
here = sys.argv[1]
client = jc.Client()  # reads where to call and the job's secret, while the job runs
with open(os.path.join(here, "secret-path"), "w") as f:
    f.write(os.environ["JOBGRAPH_SERVICES_SECRET_FILE"])
os.rename(os.path.join(here, "secret-path"), os.path.join(here, "ready"))
for _ in range(200):
    if os.path.exists(os.path.join(here, "go")):
        break
    time.sleep(0.05)
try:
    outcome = {"ok": True, "value": client.call("Echo", "echo", text="late")}
except jc.ServiceCallError as exc:
    outcome = {"ok": False, "kind": exc.kind, "message": str(exc)}
with open(os.path.join(here, "result.tmp"), "w") as f:
    json.dump(outcome, f)
os.rename(os.path.join(here, "result.tmp"), os.path.join(here, "result"))
"""


async def test_a_call_from_a_job_that_has_ended_is_refused(hosts: Servers, tmp_path: Path) -> None:
    (tmp_path / "late.py").write_text(LATE_CALLER)
    node = make_node(hosts, 1)
    pool = sv.ServicePool([Echo()])
    here = str(tmp_path)
    early = SshJob(
        node,
        # a process that outlives the job (its own session, so it is not killed)
        Shell(f"setsid python3 {here}/late.py {here} </dev/null >/dev/null 2>&1 &"),
        Shell(f"for i in $(seq 100); do [ -f {here}/ready ] && break; sleep 0.05; done"),
        services=pool,
        label="early",
    )
    # another job on the host keeps the endpoint open; it waits for early to end
    # (early's secret file removed), then lets the late caller call
    later = SshJob(
        node,
        Shell(
            f"for i in $(seq 200); do [ -f {here}/ready ] && break; sleep 0.05; done; "
            f'secret=$(cat {here}/ready); for i in $(seq 200); do [ -f "$secret" ] || break; '
            f"sleep 0.05; done; touch {here}/go; "
            f"for i in $(seq 200); do [ -f {here}/result ] && break; sleep 0.05; done; "
            f"cat {here}/result"
        ),
        services=pool,
        label="later",
    )
    assert await run_jobs(pool, early, later)
    outcome = json.loads(later.result()[0].stdout)
    assert outcome["ok"] is False and outcome["kind"] == "ended", outcome
    assert outcome["message"] == "job 'early' has ended: its calls are refused"


class Slow(sv.DeduplicatingService):
    def __init__(self) -> None:
        super().__init__()
        self.computed = 0

    @sv.expose(sv.AllowAny())
    async def compute(self, key: str) -> str:
        self.computed += 1
        await anyio.sleep(0.5)
        return f"value of {key}"


HUNDRED = """
import threading
barrier = threading.Barrier(100)
results = []
def one():
    client = jc.Client()  # a connection of its own
    barrier.wait()
    results.append(client.call("Slow", "compute", key="k"))
    client.close()
threads = [threading.Thread(target=one) for _ in range(100)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"tag": "results", "ok": True, "value": results}))
"""


async def test_a_hundred_remote_callers_share_one_computation(hosts: Servers) -> None:
    service = Slow()
    pool = sv.ServicePool([service])
    job = SshJob(make_node(hosts, 2), python_script(HUNDRED), services=pool)
    assert await run_jobs(pool, job)
    assert outcomes(job)["results"]["value"] == ["value of k"] * 100
    assert service.computed == 1
    assert pool.stats()[("Slow", "compute")].succeeded == 100


BUSY = """
clients = [jc.Client() for _ in range(3)]
attempt("first", clients[0].call, "Echo", "echo", text="1")
attempt("second", clients[1].call, "Echo", "echo", text="2")
attempt("third", clients[2].call, "Echo", "echo", text="3")  # a third connection at once
clients[0].close()
import time
time.sleep(0.3)
attempt("later", clients[2].call, "Echo", "echo", text="3")  # a slot is free again
"""


async def test_connections_past_the_limit_are_turned_away(hosts: Servers) -> None:
    pool = sv.ServicePool([Echo()])
    job = SshJob(
        make_node(hosts, 3),
        python_script(BUSY),
        services=pool,
        services_limits=ServiceLimits(max_connections=2),
    )
    assert await run_jobs(pool, job)
    seen = outcomes(job)
    assert (seen["first"]["value"], seen["second"]["value"]) == ("1", "2")
    assert seen["third"]["kind"] == "busy" and "ConnectionError" in seen["third"]["bases"]
    assert seen["later"]["value"] == "3"
