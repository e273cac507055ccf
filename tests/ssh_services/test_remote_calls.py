"""Remote programs call the controller's services through their job's SSH connection."""

from __future__ import annotations

import ast
import json
import os
import stat
from pathlib import Path

import anyio
import pytest

import jobgraph as jg
from jobgraph import services as sv
from jobgraph_ssh import LocalNode, Shell, SshError, SshJob, SshNode, close_all
from jobgraph_ssh.services import CLIENT_PATH, AllowHosts, AllowJobs, host_of
from tests.ssh.conftest import ClientKey, Servers, make_node, start_asyncssh

from ._helpers import outcomes, python_script, run_jobs

pytestmark = pytest.mark.anyio


class QuotaError(Exception):
    """A service's own exception, unknown to the remote side."""


class Guarded(sv.Service):
    """One method per policy."""

    @sv.expose(sv.AllowAny())
    def anyone(self) -> str:
        return "any"

    @sv.expose(sv.AllowParents())
    def parents(self) -> str:
        return "parents"

    @sv.expose(sv.AllowCallers(["deploy"]))
    def deployers(self) -> str:
        return "deploy"


def guarded_service(allowed_node_host: str, allowed_job: SshJob) -> sv.Service:
    """A service whose by-host and by-job methods allow one host and one job."""

    class Policies(Guarded):
        @sv.expose(sv.AllowCallers(hosts=[allowed_node_host]))
        def by_caller_host(self) -> str:
            return "caller-host"

        @sv.expose(AllowHosts([allowed_node_host]))
        def by_host(self) -> str:
            return "host"

        @sv.expose(AllowJobs([allowed_job]))
        def by_job(self) -> str:
            return "job"

        @sv.expose(AllowJobs([allowed_job]) | AllowHosts([allowed_node_host]))
        def either(self) -> str:
            return "either"

    return Policies(name="Guarded")


CALL_EVERY_METHOD = """
for method in ["anyone", "parents", "deployers", "by_caller_host", "by_host", "by_job", "either"]:
    attempt(method, jc.call, "Guarded", method)
"""


async def test_each_policy_allows_and_refuses_remote_callers(hosts: Servers) -> None:
    first, second = make_node(hosts, 0), make_node(hosts, 1)
    pool = sv.ServicePool()
    deploy = SshJob(first, python_script(CALL_EVERY_METHOD), services=pool, label="deploy")
    other = SshJob(second, python_script(CALL_EVERY_METHOD), services=pool, label="other")
    pool.add(guarded_service(host_of(first), deploy))
    assert await run_jobs(pool, deploy, other)
    mine, theirs = outcomes(deploy), outcomes(other)
    # allowed: the value comes back
    assert mine["anyone"]["value"] == "any" and theirs["anyone"]["value"] == "any"
    for method, value in [
        ("deployers", "deploy"),
        ("by_caller_host", "caller-host"),
        ("by_host", "host"),
        ("by_job", "job"),
        ("either", "either"),
    ]:
        assert mine[method] == {"tag": method, "ok": True, "value": value}
        refused = theirs[method]
        assert refused["ok"] is False and refused["kind"] == "refused", refused
        assert "PermissionError" in refused["bases"]
        assert refused["cls"] == "AccessDeniedError"
        assert "'other'" in refused["message"] and f"Guarded.{method}" in refused["message"]
    # a remote caller is never a parent, whatever host or job
    for seen in (mine, theirs):
        assert seen["parents"]["kind"] == "refused"
        assert seen["parents"]["details"]["policy"] == "callers in this process"
    assert theirs["by_host"]["details"]["policy"] == f"remote callers on {host_of(first)!r}"
    assert theirs["by_job"]["details"]["policy"] == "remote callers of jobs 'deploy'"


async def test_two_jobs_on_one_host_have_different_identities(hosts: Servers) -> None:
    node = make_node(hosts, 2)
    pool = sv.ServicePool()
    # the same label, the same host: only the job object tells them apart
    chosen = SshJob(node, python_script(CALL_EVERY_METHOD), services=pool, label="twin")
    twin = SshJob(node, python_script(CALL_EVERY_METHOD), services=pool, label="twin")
    pool.add(guarded_service("nowhere", chosen))
    assert await run_jobs(pool, chosen, twin)
    assert outcomes(chosen)["by_job"]["value"] == "job"
    assert outcomes(twin)["by_job"]["kind"] == "refused"


class Tools(sv.Service):
    def __init__(self) -> None:
        super().__init__()
        self.slow_started = anyio.Event()

    @sv.expose(sv.AllowAny())
    @sv.arg_spec(text=str, times=int)
    def shout(self, text: str, times: int = 1) -> str:
        return text.upper() * times

    @sv.expose(sv.AllowAny())
    def fail(self, kind: str) -> None:
        if kind == "value":
            raise ValueError("no such value: 42")
        if kind == "missing":
            raise FileNotFoundError("no file /nope")
        raise QuotaError("quota of 3 calls exceeded")

    @sv.expose(sv.AllowAny())
    async def slow(self, seconds: float) -> str:
        await anyio.sleep(seconds)
        return "done"

    @sv.expose(sv.AllowAny())
    def odd_result(self) -> object:
        return {1, 2}

    @sv.expose(sv.AllowParents())
    def private(self) -> str:
        return "secret"


ERRORS_SCRIPT = """
attempt("ok", jc.call, "Tools", "shout", text="hi", times=2)
attempt("no_service", jc.call, "Toolz", "shout", text="hi")
attempt("no_method", jc.call, "Tools", "on_start")
attempt("refused", jc.call, "Tools", "private")
attempt("bad_type", jc.call, "Tools", "shout", text="hi", times="2")
attempt("missing", jc.call, "Tools", "shout")
attempt("unexpected", jc.call, "Tools", "shout", text="hi", loud=True)
attempt("value_error", jc.call, "Tools", "fail", kind="value")
attempt("file_error", jc.call, "Tools", "fail", kind="missing")
attempt("own_error", jc.call, "Tools", "fail", kind="quota")
attempt("timeout", jc.call, "Tools", "slow", seconds=30, timeout=0.3)
attempt("bad_result", jc.call, "Tools", "odd_result")
attempt("after", jc.call, "Tools", "shout", text="still here")
try:
    jc.call("Tools", "fail", kind="value")
except ValueError as exc:
    print(json.dumps({"tag": "except_value_error", "ok": True, "value": str(exc)}))
"""


async def test_each_error_keeps_its_meaning_across_the_wire(hosts: Servers) -> None:
    pool = sv.ServicePool([Tools()])
    job = SshJob(make_node(hosts, 0), python_script(ERRORS_SCRIPT), services=pool)
    assert await run_jobs(pool, job)
    seen = outcomes(job)
    assert seen["ok"]["value"] == "HIHI"
    assert seen["no_service"]["kind"] == "not_found"
    assert "LookupError" in seen["no_service"]["bases"]
    assert "has no service 'Toolz'" in seen["no_service"]["message"]
    assert seen["no_method"]["kind"] == "not_found"
    assert "does not expose method 'on_start'" in seen["no_method"]["message"]
    assert seen["refused"]["kind"] == "refused"
    assert seen["refused"]["details"]["policy"] == "callers in this process"
    for tag, argument in [("bad_type", "times"), ("missing", "text"), ("unexpected", "loud")]:
        assert seen[tag]["kind"] == "bad_arguments", seen[tag]
        assert seen[tag]["details"]["argument"] == argument
        assert "TypeError" in seen[tag]["bases"]
    assert "argument 'times' must be int, not str" in seen["bad_type"]["message"]
    # the method's own exceptions: a class of the same name, a built-in one where it exists
    assert seen["value_error"]["cls"] == "ValueError"
    assert "ValueError" in seen["value_error"]["bases"][1:]  # the built-in, as a base
    assert seen["value_error"]["message"] == "no such value: 42"
    assert seen["value_error"]["details"]["type"] == "ValueError"
    assert seen["file_error"]["cls"] == "FileNotFoundError"
    assert "OSError" in seen["file_error"]["bases"]
    assert seen["own_error"]["cls"] == "QuotaError"
    assert seen["own_error"]["kind"] == "method_error"
    assert seen["own_error"]["details"]["module"] == __name__
    assert seen["own_error"]["message"] == "quota of 3 calls exceeded"
    assert seen["timeout"]["kind"] == "timeout"
    assert "TimeoutError" in seen["timeout"]["bases"]
    assert "Tools.slow did not finish within 0.3 s" in seen["timeout"]["message"]
    assert seen["bad_result"]["kind"] == "bad_result"
    assert seen["after"]["value"] == "STILL HERE"  # the connection survived every error
    assert seen["except_value_error"]["value"] == "no such value: 42"


async def test_a_pool_that_is_not_running_is_gone(hosts: Servers) -> None:
    pool = sv.ServicePool([Tools()])
    job = SshJob(
        make_node(hosts, 1),
        python_script('attempt("gone", jc.call, "Tools", "shout", text="x")'),
        services=pool,
    )
    assert await run_jobs(pool, job, started=False)
    gone = outcomes(job)["gone"]
    assert gone["kind"] == "gone" and "ConnectionError" in gone["bases"]
    assert "is not running" in gone["message"]


async def test_shell_scripts_call_with_the_command_line_entry(hosts: Servers) -> None:
    pool = sv.ServicePool([Tools()])
    job = SshJob(
        make_node(hosts, 3),
        Shell('python3 "$JOBGRAPH_CALL" call Tools shout text=hey times=3'),
        Shell('python3 "$JOBGRAPH_CALL" call Tools shout text=hey times=x', allowed_exits=[1]),
        Shell('python3 "$JOBGRAPH_CALL" call Tools fail kind=value || echo "status $?"'),
        Shell('python3 "$JOBGRAPH_CALL" nonsense', allowed_exits=[2]),
        services=pool,
    )
    assert await run_jobs(pool, job)
    shouted, bad, failed, usage = job.result()
    assert json.loads(shouted.stdout) == "HEYHEYHEY"
    assert bad.exit_status == 1
    error = json.loads(bad.stderr)["error"]
    assert error["kind"] == "bad_arguments" and error["argument"] == "times"
    assert failed.stdout == "status 1\n"
    assert json.loads(failed.stderr)["error"]["type"] == "ValueError"
    assert "usage:" in usage.stderr


async def test_secret_and_socket_are_private_and_a_wrong_secret_is_refused(
    hosts: Servers,
) -> None:
    pool = sv.ServicePool([Tools()])
    body = """
import stat
address = os.environ["JOBGRAPH_SERVICES"]
secret_file = os.environ["JOBGRAPH_SERVICES_SECRET_FILE"]
print(json.dumps({"tag": "env", "ok": True, "value": [
    address, oct(stat.S_IMODE(os.stat(secret_file).st_mode)),
    oct(stat.S_IMODE(os.stat(os.path.dirname(secret_file)).st_mode))]}))
intruder = jc.Client(secret="guessed")
attempt("intruder", intruder.call, "Tools", "shout", text="x")
attempt("rightful", jc.call, "Tools", "shout", text="x")
"""
    job = SshJob(make_node(hosts, 0), python_script(body), services=pool)
    assert await run_jobs(pool, job)
    seen = outcomes(job)
    address, secret_mode, directory_mode = seen["env"]["value"]
    assert address.startswith("unix:/tmp/jobgraph-svc-")
    assert (secret_mode, directory_mode) == ("0o600", "0o700")
    assert seen["intruder"]["kind"] == "unauthenticated"
    assert seen["rightful"]["value"] == "X"
    # the job has ended: its directory (socket, secret, client) is gone
    assert not Path(address.removeprefix("unix:")).parent.exists()


async def test_tcp_forwarding_when_unix_sockets_are_refused(tcp_hosts: Servers) -> None:
    pool = sv.ServicePool([Tools()])
    body = """
print(json.dumps({"tag": "address", "ok": True, "value": os.environ["JOBGRAPH_SERVICES"]}))
attempt("call", jc.call, "Tools", "shout", text="tcp")
"""
    job = SshJob(make_node(tcp_hosts, 0), python_script(body), services=pool)
    assert await run_jobs(pool, job)
    seen = outcomes(job)
    assert seen["address"]["value"].startswith("tcp:127.0.0.1:")
    assert seen["call"]["value"] == "TCP"


async def test_openssh_forwards_the_socket(sshd: Servers) -> None:
    pool = sv.ServicePool([Tools()])
    job = SshJob(
        make_node(sshd, 0),
        Shell('echo "$JOBGRAPH_SERVICES"; python3 "$JOBGRAPH_CALL" call Tools shout text=sshd'),
        python_script('attempt("refused", jc.call, "Tools", "private")'),
        services=pool,
        services_transport="unix",
    )
    assert await run_jobs(pool, job)
    address, result = job.result()[0].stdout.splitlines()
    assert address.startswith("unix:/tmp/jobgraph-svc-")
    assert json.loads(result) == "SSHD"
    assert outcomes(job)["refused"]["kind"] == "refused"


def test_the_client_is_stdlib_only_and_python_3_8() -> None:
    source = CLIENT_PATH.read_text()
    tree = ast.parse(source, feature_version=(3, 8))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= {"__future__", "builtins", "json", "os", "socket", "struct", "sys"} | {
        "threading",
        "typing",
    }
    assert stat.S_ISREG(os.stat(CLIENT_PATH).st_mode)


async def test_a_host_that_refuses_forwarding_fails_the_job_naming_it(
    tmp_path: Path, client_key: ClientKey
) -> None:
    with start_asyncssh(tmp_path / "srv", client_key, hosts=1) as closed:
        node = make_node(closed, 0)
        pool = sv.ServicePool([Tools()])
        job = SshJob(node, Shell("true"), services=pool, label="no-forwarding")
        assert not await run_jobs(pool, job)
    error = job.exception
    assert isinstance(error, SshError)
    assert error.host == node.name and error.job == "no-forwarding"
    assert "cannot forward a socket back from the host for services" in str(error)
    assert "Unix socket forwarding refused" in str(error)
    assert "TCP port forwarding refused" in str(error)


def test_services_options_are_checked_when_the_job_is_built() -> None:
    pool = sv.ServicePool([Tools()])
    node = SshNode("h.example.org")
    with pytest.raises(jg.InvalidOptionError, match="services must be a ServicePool"):
        SshJob(node, Shell("true"), services=object())  # type: ignore[arg-type]
    with pytest.raises(jg.InvalidOptionError, match="services_transport must be one of"):
        SshJob(node, Shell("true"), services=pool, services_transport="udp")
    with pytest.raises(jg.InvalidOptionError, match="services_timeout must be a positive"):
        SshJob(node, Shell("true"), services=pool, services_timeout=0)
    with pytest.raises(
        jg.InvalidOptionError, match=r"services_limits must be a jobgraph_ssh\.Limits"
    ):
        SshJob(node, Shell("true"), services=pool, services_limits={"max_message": 1})
    with pytest.raises(jg.JobDefinitionError, match="services= needs an SshNode"):
        SshJob(LocalNode(), Shell("true"), services=pool)
    with pytest.raises(sv.ServiceDefinitionError, match="not the single value"):
        AllowHosts("web1")
    with pytest.raises(sv.ServiceDefinitionError, match="AllowJobs takes SshJob objects"):
        AllowJobs(["job"])  # type: ignore[list-item]


class Gated(sv.Service):
    @sv.expose(sv.AllowCallers(where=lambda caller: bool(getattr(caller, "gateways", ()))))
    def via_gateway(self) -> str:
        return "through a gateway"

    @sv.expose(sv.AllowAny())
    async def slow(self) -> str:
        await anyio.sleep(30)
        return "late"


async def test_a_job_behind_a_gateway_calls_back_under_its_job_timeout(hosts: Servers) -> None:
    gateway = make_node(hosts, 3)
    node = make_node(hosts, 0, gateway=gateway)
    pool = sv.ServicePool([Gated()])
    body = """
attempt("via", jc.call, "Gated", "via_gateway")
attempt("slow", jc.call, "Gated", "slow")
"""
    job = SshJob(node, python_script(body), services=pool, services_timeout=0.3)
    direct = SshJob(
        make_node(hosts, 1), python_script('attempt("via", jc.call, "Gated", "via_gateway")'),
        services=pool,
    )  # fmt: skip
    try:
        assert await run_jobs(pool, job, direct)
    finally:
        await close_all([gateway])
    seen = outcomes(job)
    assert seen["via"]["value"] == "through a gateway"
    assert seen["slow"]["kind"] == "timeout"
    assert "within 0.3 s" in seen["slow"]["message"]
    assert outcomes(direct)["via"]["kind"] == "refused"
