"""The services socket under attack from the remote host: a request that breaks the
JSON parser, callers without a secret, a job looking for another job's secret, and the
TCP fallback (issue 22, items 4 and 8, and small items of 14)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

import jobgraph as jg
from jobgraph import services as sv
from jobgraph_ssh import Shell, SshJob, close_all
from jobgraph_ssh.services import AllowJobs, ServiceLimits
from jobgraph_ssh.services._tunnel import SessionHandle
from tests.ssh.conftest import Servers, make_node

from ._helpers import RAW_CLIENT, Echo, outcomes, python_script, run_jobs

pytestmark = pytest.mark.anyio

RAW = (
    RAW_CLIENT
    + """
def exchange(tag, data):
    sock = connect()
    started = time.monotonic()
    try:
        if data:
            sock.sendall(data)
        reply = read_reply(sock)
        # after a refusal the controller hangs up; after an answer it waits for more
        closed = sock.recv(1) == b"" if reply is None or not reply["ok"] else False
    except socket.timeout:
        reply, closed = "timed out", False
    print(json.dumps({"tag": tag, "ok": True, "value": {
        "reply": reply, "closed": closed, "seconds": time.monotonic() - started}}), flush=True)
    sock.close()

secret = open(os.environ["JOBGRAPH_SERVICES_SECRET_FILE"]).read().strip()
good = {"v": 1, "id": 7, "secret": secret, "service": "Echo", "method": "echo",
        "kwargs": {"text": "hi"}, "timeout": None}
"""
)


def _refusal(seen: dict[str, dict[str, object]], tag: str) -> dict[str, object]:
    value = seen[tag]["value"]
    assert isinstance(value, dict)
    reply = value["reply"]
    assert isinstance(reply, dict), f"{tag}: {reply!r}"
    assert reply["ok"] is False, reply
    assert value["closed"], f"{tag}: the connection stays open"
    error = reply["error"]
    assert isinstance(error, dict)
    return error


async def test_a_request_nested_too_deeply_closes_its_channel_not_the_connection(
    hosts: Servers, tmp_path: Path
) -> None:
    """Issue 22 item 4: ``"[" * 50000`` made json.loads raise RecursionError, which
    escaped to asyncssh and closed the whole SSH connection (every job on the node)."""
    node = make_node(hosts, 0)
    behind = make_node(hosts, 3, gateway=node)  # its connection goes through node's
    pool = sv.ServicePool([Echo()])
    here = str(tmp_path)
    attacker = SshJob(
        node,
        python_script(
            RAW
            + f"""
exchange("nested", frame(b"[" * 50000))
exchange("nested_kwargs", frame(json.dumps(dict(good, kwargs={{"text": "x"}})).encode()
                                .replace(b'"x"', b"[" * 50000 + b"]" * 50000)))
attempt("after", jc.call, "Echo", "echo", text="still here")
open("{here}/attacked", "w").close()
"""
        ),
        services=pool,
        label="attacker",
    )
    # another job on the same node and connection, running across the attack
    bystander = SshJob(
        node,
        Shell(
            f"for i in $(seq 400); do [ -f {here}/attacked ] && break; sleep 0.05; done; "
            'python3 "$JOBGRAPH_CALL" call Echo echo text=bystander'
        ),
        services=pool,
        label="bystander",
    )
    # a job on a node behind the attacked one, as a gateway, running across the attack
    beyond = SshJob(
        behind,
        Shell(
            f"for i in $(seq 400); do [ -f {here}/attacked ] && break; sleep 0.05; done; "
            'python3 "$JOBGRAPH_CALL" call Echo echo text=beyond'
        ),
        services=pool,
        label="beyond",
    )
    try:
        assert await run_jobs(pool, attacker, bystander, beyond)
    finally:
        await close_all([node])
    seen = outcomes(attacker)
    error = _refusal(seen, "nested")
    assert error["kind"] == "protocol" and "nested too deeply" in str(error["message"])
    assert _refusal(seen, "nested_kwargs")["kind"] == "protocol"
    assert seen["after"]["value"] == "still here"
    assert json.loads(bystander.result()[0].stdout or "") == "bystander"
    assert json.loads(beyond.result()[0].stdout or "") == "beyond"


async def test_a_connection_must_send_a_valid_secret_first_and_soon(hosts: Servers) -> None:
    """Issue 22 items 4 and 14: a silent connection is closed after ``auth_timeout``,
    a wrong secret closes the connection, and NaN or Infinity are not timeouts."""
    node = make_node(hosts, 1)
    pool = sv.ServicePool([Echo()])
    body = (
        RAW
        + """
exchange("silent", b"")
exchange("wrong_secret", frame(json.dumps(dict(good, secret="guessed")).encode()))
exchange("nan", frame(json.dumps(dict(good, timeout=float("nan"))).encode()))
exchange("infinity", frame(json.dumps(dict(good, timeout=float("inf"))).encode()))
exchange("good", frame(json.dumps(good).encode()))
"""
    )
    limits = ServiceLimits(auth_timeout=1.0)
    job = SshJob(node, python_script(body), services=pool, services_limits=limits)
    assert await run_jobs(pool, job)
    seen = outcomes(job)
    silent = seen["silent"]["value"]
    assert silent["reply"] is None and silent["closed"], silent
    assert 0.5 < silent["seconds"] < 10
    wrong = _refusal(seen, "wrong_secret")
    assert wrong["kind"] == "unauthenticated"
    assert seen["wrong_secret"]["value"]["reply"]["closing"] is True
    for tag in ("nan", "infinity"):
        error = _refusal(seen, tag)
        assert error["kind"] == "protocol" and "finite" in str(error["message"]), error
    assert seen["good"]["value"]["reply"] == {"v": 1, "id": 7, "ok": True, "result": "hi"}


SNOOP = """
import glob, stat, time
own = os.environ["JOBGRAPH_SERVICES_SECRET_FILE"]
for _ in range(400):
    if os.path.exists("{here}/victim-folder"):
        break
    time.sleep(0.05)
victim_folder = open("{here}/victim-folder").read().strip()
print(json.dumps({{"tag": "folders", "ok": True, "value": [
    os.path.dirname(own), oct(stat.S_IMODE(os.stat(os.path.dirname(own)).st_mode)),
    victim_folder]}}))
# the same remote account can list the shared directory and read the other secret
others = [p for p in glob.glob(os.path.dirname(os.path.dirname(own)) + "/*/secret") if p != own]
for n, path in enumerate(others):
    attempt("as_victim", jc.Client(secret=open(path).read().strip()).call, "Vault", "owner_only")
open("{here}/snooped", "w").close()
for _ in range(400):  # the victim's folder goes when the victim ends
    if not os.path.exists(victim_folder):
        break
    time.sleep(0.05)
print(json.dumps({{"tag": "victim_gone", "ok": True, "value": not os.path.exists(victim_folder)}}))
attempt("own", jc.call, "Vault", "owner_only")
"""


async def test_each_job_has_its_own_secret_folder_within_one_account(
    hosts: Servers, tmp_path: Path
) -> None:
    """Issue 22 item 8: every job's secret sat in one shared folder. Now each job has a
    folder of its own (0700, random name), removed when the job ends. The boundary is
    the remote account (docs/security.md): a process of the same account can still read
    another job's secret and call as that job, which this test pins down."""
    node = make_node(hosts, 2)
    pool = sv.ServicePool()
    victim = SshJob(
        node,
        Shell(
            f'dirname "$JOBGRAPH_SERVICES_SECRET_FILE" > {tmp_path}/victim-folder; '
            f"for i in $(seq 400); do [ -f {tmp_path}/snooped ] && break; sleep 0.05; done; "
            'python3 "$JOBGRAPH_CALL" call Vault owner_only'
        ),
        services=pool,
        label="victim",
    )

    class Vault(sv.Service):
        @sv.expose(AllowJobs([victim]))
        def owner_only(self) -> str:
            return "opened"

    pool.add(Vault())
    snoop = SshJob(node, python_script(SNOOP.format(here=tmp_path)), services=pool)
    assert await run_jobs(pool, victim, snoop)
    seen = outcomes(snoop)
    own_folder, mode, victim_folder = seen["folders"]["value"]
    assert mode == "0o700"
    assert own_folder != victim_folder
    assert Path(own_folder).parent == Path(victim_folder).parent
    assert len(Path(own_folder).name) == 32  # 128 random bits: not guessed
    assert json.loads(victim.result()[0].stdout or "") == "opened"
    assert seen["victim_gone"]["value"] is True
    assert seen["own"]["kind"] == "refused"  # AllowJobs tells the two jobs apart...
    assert seen["as_victim"]["value"] == "opened"  # ...but not within one account


async def test_auto_transport_says_when_it_falls_back_to_tcp(
    tcp_hosts: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 22 item 4: a TCP port is open to every local user of the host; "auto"
    used to fall back to one silently."""
    caplog.set_level(logging.WARNING, logger="jobgraph_ssh.services")
    pool = sv.ServicePool([Echo()])
    script = 'echo "$JOBGRAPH_SERVICES"; python3 "$JOBGRAPH_CALL" call Echo echo text=t'
    auto = SshJob(make_node(tcp_hosts, 0), Shell(script), services=pool)
    assert await run_jobs(pool, auto)
    assert auto.result()[0].stdout.startswith("tcp:127.0.0.1:")
    warned = [r.getMessage() for r in caplog.records if r.name == "jobgraph_ssh.services"]
    assert len(warned) == 1, warned
    assert "every local user of that host can connect" in warned[0]
    assert "services_transport='tcp'" in warned[0]
    caplog.clear()
    chosen = SshJob(make_node(tcp_hosts, 0), Shell(script), services=pool, services_transport="tcp")
    assert await run_jobs(pool, chosen)
    assert not [r for r in caplog.records if r.name == "jobgraph_ssh.services"]


def test_a_session_handle_does_not_show_its_secret() -> None:
    """Issue 22 item 14: the repr of a SessionHandle (in logs, tracebacks) showed it."""

    async def dispatch(request: dict[str, object]) -> dict[str, object]:
        return {}

    handle = SessionHandle(secret="s3cr3t-value", label="job", dispatch=dispatch, portal=None)
    assert "s3cr3t-value" not in repr(handle)
    assert "job" in repr(handle)


def test_service_limits_are_checked() -> None:
    """A limit of NaN, infinity, zero or a wrong type would disable its protection."""
    wrongs: list[tuple[str, Any]] = [
        ("auth_timeout", float("nan")),
        ("auth_timeout", float("inf")),
        ("request_timeout", 0),
        ("idle_timeout", -1.0),
        ("idle_timeout", True),
        ("max_message", 1.5),
        ("max_connections", 0),
        ("max_connections", "9"),
    ]
    for name, wrong in wrongs:
        with pytest.raises(jg.InvalidOptionError, match=f"Limits: {name} must be"):
            ServiceLimits(**{name: wrong})
    assert ServiceLimits(auth_timeout=0.5, max_connections=1).auth_timeout == 0.5
