"""Every name of jobgraph_ssh.compat.apssh, in process, on real loopback servers
(asyncio and trio)."""

from __future__ import annotations

import getpass
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

import jobgraph_ssh
from jobgraph import JobDefinitionError
from jobgraph.compat.asynciojobs import Scheduler, Sequence
from jobgraph_ssh.compat import apssh
from jobgraph_ssh.compat.apssh import (
    Capture,
    CaptureFormatter,
    ColonFormatter,
    CommandFailedError,
    Deferred,
    Formatter,
    LocalNode,
    Pull,
    Push,
    RawFormatter,
    Run,
    RunLocalStuff,
    RunScript,
    RunString,
    Service,
    SshJob,
    SshNode,
    SshProxy,
    SubdirFormatter,
    TerminalFormatter,
    TimeColonFormatter,
    Variables,
    YamlLoader,
    YamlLoaderError,
    close_ssh_in_scheduler,
    co_close_ssh_in_scheduler,
    import_private_key,
    load_agent_keys,
    load_private_keys,
    topology_as_dotfile,
    topology_as_pngfile,
    topology_dot,
    topology_graph,
)
from tests.ssh.conftest import Servers

pytestmark = pytest.mark.anyio


async def run_closing(*jobs: Any) -> bool:
    """Run a compat scheduler of ``jobs``, then close the connections it used."""
    scheduler = Scheduler(*jobs)
    try:
        return await scheduler.co_run()
    finally:
        await co_close_ssh_in_scheduler(scheduler)


def node(servers: Servers, index: int = 0, **options: Any) -> SshNode:
    options.setdefault("username", servers.username)
    options.setdefault("keys", [str(servers.client_key)])
    options.setdefault("formatter", CaptureFormatter(verbose=False))
    return SshNode(servers.host, port=servers.ports[index], **options)


async def test_run_joins_parts_without_quoting(servers: Servers) -> None:
    here = node(servers)
    job = SshJob(here, commands=[Run("echo", 1, "+", 2, "'a  b'", "| tr a-z A-Z")])
    assert Run("tail -n", 1, "/etc/hosts").command_line() == "tail -n 1 /etc/hosts"
    assert await run_closing(job)
    assert here.formatter.get_capture() == "1 + 2 A  B\n"
    await co_close_ssh_in_scheduler(Scheduler(job))


async def test_sshjob_commands_forms_and_results(servers: Servers) -> None:
    here = node(servers)
    jobs = [
        SshJob(here, command="echo one"),
        SshJob(here, commands=["echo", "two"]),
        SshJob(here, commands=Run("echo three")),
        SshJob(here, commands=[Run("exit 4"), None, Run("echo four")], critical=False),
        SshJob(here, command=Run("exit 5", allowed_exits=[5])),
    ]
    scheduler = Scheduler(*jobs)
    assert await scheduler.co_run()
    await co_close_ssh_in_scheduler(scheduler)
    assert sorted(here.formatter.get_capture().split()) == ["four", "one", "three", "two"]
    assert [job.result() for job in jobs] == [0, 0, 0, 4, 0]
    assert jobs[0].critical and not jobs[0].forever
    assert jobs[3].text_label() == "exit 4.. + 1"
    assert "Ignr[1]:exit 4->4" in jobs[3].repr_result()
    assert jobs[3].graph_label().splitlines()[1:] == ["exit 4", "echo four"]
    assert jobs[3].graph_label().splitlines()[0].endswith(f": {servers.username}@127.0.0.1")
    assert jobs[3].details() == jobs[3].graph_label()
    assert not here.is_connected()


async def test_critical_failure_raises_and_names_the_command(servers: Servers) -> None:
    here = node(servers)
    failing = SshJob(here, commands=[Run("echo before"), Run("exit 7"), Run("echo never")])
    scheduler = Scheduler(failing)
    with pytest.raises(CommandFailedError, match=r"command exit 7 returned 7 on node"):
        await scheduler.co_run()
    assert here.is_connected()
    await failing.close()
    assert not here.is_connected()
    assert here.formatter.get_capture() == "before\n"
    assert "!Crit![2]:exit 7->7" in failing.repr_result()


async def test_keep_connection_and_proxy_coroutines(servers: Servers, tmp_path: Path) -> None:
    proxy = SshProxy(
        servers.host,
        port=servers.ports[1],
        keys=[str(servers.client_key)],
        formatter=CaptureFormatter(verbose=False),
    )
    assert proxy.username == getpass.getuser()  # SshProxy: the local user by default
    assert SshNode("somewhere").username == "root"
    job = SshJob(proxy, command="echo kept", keep_connection=True)
    assert await Scheduler(job).co_run()
    await job.close()  # kept: keep_connection
    assert proxy.is_connected() and proxy.is_sftp_connected()
    assert await proxy.connect_lazy() is await proxy.sftp_connect_lazy()
    assert await proxy.run("echo direct; exit 3", x11_forwarding=True) == 3
    remote = tmp_path / "remote"
    assert await proxy.mkdir(str(remote / "a" / "b"))
    assert await proxy.put_string_script("#!/bin/sh\necho from script\n", str(remote / "s.sh"))
    assert os.access(remote / "s.sh", os.X_OK)
    (tmp_path / "f.txt").write_text("data\n")
    assert await proxy.put_file_s([str(tmp_path / "f.txt")], str(remote / "a"))
    assert await proxy.get_file_s([str(remote / "a" / "f.txt")], str(tmp_path / "back"))
    assert (tmp_path / "back" / "f.txt").read_text() == "data\n"
    assert await proxy.run(str(remote / "s.sh")) == 0
    assert proxy.formatter.get_capture() == "kept\ndirect\nfrom script\n"
    with pytest.raises(OSError, match="no-such-dir"):
        await proxy.get_file_s(["/no-such-dir/x"], str(tmp_path))
    await proxy.close()
    assert not proxy.is_connected()


async def test_scripts_strings_and_files(servers: Servers, tmp_path: Path) -> None:
    here = node(servers)
    (tmp_path / "inc.txt").write_text("included\n")
    script = tmp_path / "show.sh"
    script.write_text('#!/bin/sh\ncat "$(dirname "$0")/inc.txt"; echo "[$1]" "[$2]"\n')
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "x").write_text("x\n")
    remote = tmp_path / "remote"
    remote.mkdir()
    (tmp_path / "back").mkdir()
    commands = [
        RunScript(str(script), "a b", "c", includes=[str(tmp_path / "inc.txt")]),
        RunString("#!/bin/sh\necho \"$0\" | sed 's|.*/||'\n", remote_name="named.sh"),
        Push([str(tmp_path / "dir")], str(remote), label="push dir"),
        Pull([str(remote / "dir")], str(tmp_path / "back")),
    ]
    assert isinstance(commands[0], RunLocalStuff)
    # apssh 0.27's labels (a given label wins)
    assert [c.label_line() for c in commands] == [
        "RunScript: show.sh a b c",
        'RunString: echo "$0" | sed... ',
        "push dir",
        f"Pull: {remote / 'dir'} into {tmp_path / 'back'}",
    ]
    assert Push(["a", "b"], "dst").get_label_line() == "Push: a ... (2 total) onto dst"
    assert await run_closing(SshJob(here, commands=commands))
    assert here.formatter.get_capture() == "included\n[a] [b]\nnamed.sh\n"
    assert (tmp_path / "back" / "dir" / "x").read_text() == "x\n"
    # as asyncssh's put/get: a target that is not a directory is the copy's name
    single = SshJob(
        here,
        commands=[
            Push(str(tmp_path / "dir" / "x"), str(remote / "renamed")),
            Pull(str(remote / "renamed"), str(tmp_path / "copy")),
        ],
    )
    assert await run_closing(single)
    assert (tmp_path / "copy").read_text() == "x\n"


async def test_local_node_and_ignore_outputs(tmp_path: Path) -> None:
    formatter = CaptureFormatter(verbose=False)
    local = LocalNode(formatter=formatter)
    job = SshJob(
        local,
        commands=[
            Run("echo shown"),
            Run("echo hidden; echo hidden >&2", ignore_outputs=True),
            Run("echo done >", tmp_path / "proof", ignore_outputs=True),
        ],
    )
    assert await run_closing(job)
    assert formatter.get_capture() == "shown\n"
    assert (tmp_path / "proof").read_text() == "done\n"
    assert local.is_connected()


async def test_capture_and_deferred(servers: Servers) -> None:
    env = Variables()
    here = node(servers)
    first = SshJob(here, command=Run("echo", "value-1", capture=Capture("v", env)))
    template = Deferred("echo got {{v}}", env)
    second = SshJob(here, command=Run(template.dup_from_string("echo again {{v}}")), required=first)
    third = SshJob(here, command=Run(template), required=second)
    assert await run_closing(first, second, third)
    assert env.v == env["v"] == "value-1"
    assert here.formatter.get_capture() == "again value-1\ngot value-1\n"


async def test_verbose_and_x11_run_on_sshd(
    sshd: Servers, capsys: pytest.CaptureFixture[str]
) -> None:
    captured = CaptureFormatter(verbose=False)
    here = SshNode(
        sshd.host,
        port=sshd.ports[0],
        username=sshd.username,
        keys=[str(sshd.client_key)],
        formatter=captured,
    )
    events: list[str] = []
    captured.session_start = lambda host, command: events.append(command)  # type: ignore[method-assign, assignment]
    job = SshJob(here, commands=[Run("echo x11", x11=True), Run("echo shown")], verbose=True)
    assert await run_closing(job)
    assert captured.get_capture() == "x11\nshown\n"
    # as apssh: a verbose command tells the formatter (on stderr) as it starts and
    # ends; the node tells session_start of every command (the formatter decides
    # what to show)
    assert capsys.readouterr().err.splitlines() == [
        "Run: -> echo x11",
        "Run: 0 <- echo x11",
        "Run: -> echo shown",
        "Run: 0 <- echo shown",
    ]
    assert events == ["echo x11", "echo shown"]


async def test_compat_scheduler_with_sequences_runs_under_both_backends(
    servers: Servers, anyio_backend: Any
) -> None:
    del anyio_backend
    nodes = [node(servers, index) for index in range(3)]
    scheduler = Scheduler(jobs_window=2)
    for index, each in enumerate(nodes):
        Sequence(
            SshJob(each, command=f"echo {index}-a"),
            SshJob(each, command=f"echo {index}-b"),
            scheduler=scheduler,
        )
    assert await scheduler.co_run()
    for index, each in enumerate(nodes):
        assert each.formatter.get_capture() == f"{index}-a\n{index}-b\n"
    await co_close_ssh_in_scheduler(scheduler)


def test_sync_run_then_close_returns_at_once(servers: Servers) -> None:
    gateway = SshNode(
        servers.host,
        port=servers.ports[0],
        username=servers.username,
        keys=[str(servers.client_key)],
        formatter=CaptureFormatter(verbose=False),
    )
    scheduler = Scheduler(
        SshJob(gateway, command=RunString("#!/bin/sh\necho hi\n"), keep_connection=True)
    )
    assert scheduler.run()
    begin = time.monotonic()
    close_ssh_in_scheduler(scheduler)
    assert time.monotonic() - begin < 2  # apssh waits 30 s here
    assert not gateway.is_connected()


def test_formatters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = "hello\n"
    TerminalFormatter("@user@@host@ @time@ %Y [@line@]", verbose=False).line(line, None, "a.b.org")
    RawFormatter(verbose=False).line(line, None, "h")
    ColonFormatter(verbose=False).line(line, 1, "h.example")  # stderr
    TimeColonFormatter(verbose=False).line(line, None, "10.0.0.1")
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert re.fullmatch(r"a \d\d-\d\d-\d\d \d{4} \[hello\]", lines[0])
    assert lines[1] == "hello"
    assert err == "h:hello\n"
    assert re.fullmatch(r"\d\d-\d\d-\d\d:10\.0\.0\.1:hello", lines[2])
    subdir = SubdirFormatter(str(tmp_path / "run"), verbose=True)
    subdir.connection_made("h1", "me", direct=True)
    subdir.line("out\n", None, "h1")
    subdir.line("err\n", 1, "h1")
    assert (tmp_path / "run" / "h1").read_text() == "Connected (direct) to me@h1\nout\nerr\n"
    capture = CaptureFormatter("@host@ @line@", verbose=False)
    capture.line(line, None, "h")
    capture.start_capture()
    capture.line("again\n", None, "h")
    assert capture.get_capture() == "h again\n"
    assert isinstance(capture, Formatter)


async def test_user_in_the_format_and_custom_formatters(servers: Servers) -> None:
    class Collect(Formatter):
        def __init__(self) -> None:
            super().__init__("@user@@host@:@line@")
            self.seen: list[str] = []

        def line(self, line: str, datatype: int | None, hostname: str) -> None:
            self.seen.append(self._formatted_line(line, hostname))

    collect = Collect()
    here = node(servers, formatter=collect)
    assert await run_closing(SshJob(here, commands=Run("echo out; echo err >&2")))
    assert sorted(collect.seen) == [
        f"{servers.username}@127.0.0.1:err",
        f"{servers.username}@127.0.0.1:out",
    ]


def test_service_commands() -> None:
    service = Service("tcpdump -i eth0", service_id="dump", tty=True, environ={"USER": "root"})
    start = service.start_command().command_line()
    assert start.startswith("systemctl is-active dump >/dev/null 2>&1 && systemctl stop dump; ")
    assert "systemctl reset-failed dump >/dev/null 2>&1; " in start
    assert start.endswith(
        "systemd-run --pty --setenv=USER=root --unit=dump --service-type=simple tcpdump -i eth0"
    )
    plain = Service("sleep 9", service_id="s", systemd_type="forking", stop_if_running=False)
    assert plain.start_command().command_line() == (
        "systemd-run --unit=s --service-type=forking sleep 9"
    )
    assert plain.stop_command().command_line() == "systemctl stop s"
    assert plain.status_command(output="f").command_line() == "systemctl status s > f"
    assert plain.start_command().label_line() == "Service: start s"
    wrapped = Run(plain.stop_command())  # as apssh's documentation writes it
    assert wrapped.command_line() == str(wrapped) == "systemctl stop s"
    assert wrapped.label_line() == "Service: stop s"
    env = Variables(port="80")
    deferred = Service(Deferred("nc -l {{port}}", env), service_id="nc")
    assert deferred.start_command().resolved_line().endswith("nc -l 80")


def test_keys(servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = import_private_key(servers.client_key)
    assert key is not None
    assert import_private_key(tmp_path / "missing") is None
    assert len(load_private_keys([str(servers.client_key)])) == 1
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    assert load_agent_keys() == []
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(servers.client_key, home / ".ssh" / "id_rsa")
    monkeypatch.setenv("HOME", str(home))
    assert len(load_private_keys()) == 1  # no agent: ~/.ssh/id_rsa


async def test_key_objects_connect(servers: Servers) -> None:
    here = node(servers, keys=load_private_keys([str(servers.client_key)]))
    assert await run_closing(SshJob(here, command="echo with key objects"))
    assert here.formatter.get_capture() == "with key objects\n"


async def test_host_keys_not_checked_unless_asked(servers: Servers, tmp_path: Path) -> None:
    assert apssh.host_key_policy() == "ignore"
    unchecked = node(servers)
    assert await run_closing(SshJob(unchecked, command="echo unchecked"))
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"[127.0.0.1]:{servers.ports[0]} {servers.host_keys[1]}\n")
    checked = node(servers, known_hosts=str(wrong))
    with pytest.raises(jobgraph_ssh.HostKeyError):
        await run_closing(SshJob(checked, command="echo never"))
    previous = apssh.set_host_key_policy("strict")
    try:
        assert node(servers).host_key_policy == "strict"
    finally:
        apssh.set_host_key_policy(previous)


def test_topology(gateways: Servers, tmp_path: Path) -> None:
    gateway = node(gateways, 0)
    inner = node(gateways, 1, gateway=gateway)
    scheduler = Scheduler(SshJob(inner, command="echo inner"), SshJob(LocalNode(), command="true"))
    dot = topology_dot(scheduler)
    assert f'"{gateway.name}" -> "{inner.name}"' in dot
    assert f'"localhost" -> "{gateway.name}"' in dot
    graph = topology_graph(scheduler)
    assert type(graph).__name__ == "Digraph"
    assert gateway.name in graph.source
    topology_as_dotfile(scheduler, tmp_path / "t.dot")
    assert (tmp_path / "t.dot").read_text() == dot
    if shutil.which("dot"):
        assert topology_as_pngfile(scheduler, str(tmp_path / "t")) == str(tmp_path / "t.png")
        assert (tmp_path / "t.png").read_bytes().startswith(b"\x89PNG")
    assert scheduler.run()
    assert inner.formatter.get_capture() == "inner\n"
    assert inner.is_connected() and gateway.is_connected()  # open after run(), as apssh
    close_ssh_in_scheduler(scheduler, manage_gateways=False)
    assert not inner.is_connected() and gateway.is_connected()  # the gateway is left
    close_ssh_in_scheduler(scheduler)
    assert not gateway.is_connected()


def test_yaml_errors_name_file_line_and_key(tmp_path: Path) -> None:
    def load(text: str, env: dict[str, Any] | None = None) -> str:
        path = tmp_path / "s.yaml"
        path.write_text(text)
        with pytest.raises(YamlLoaderError) as info:
            YamlLoader(path).load(env)
        return str(info.value)

    nodes = "nodes:\n  - id: n\n    hostname: h\n"
    assert load("nodes: []\n").endswith("s.yaml:1: no 'jobs' key")
    assert "s.yaml:4: key 'colour': unknown key for a node" in load(
        "nodes:\n  - id: n\n    hostname: h\n    colour: red\njobs: []\n"
    )
    assert "s.yaml:4: key 'id': node id 'n' defined twice" in load(
        nodes + "  - id: n\n    hostname: h2\njobs: []\n"
    )
    job = "  - id: j\n    node: n\n    commands: [{type: Run, command: 'true'}]\n"
    assert "s.yaml:8: key 'when': unknown key for a job" in load(
        nodes + "jobs:\n" + job + "    when: now\n"
    )
    assert "s.yaml:8: key 'id': job id 'j' defined twice" in load(nodes + "jobs:\n" + job + job)
    message = load(nodes + "jobs:\n  - id: j\n    node: m\n    commands: []\n")
    assert "s.yaml:6: key 'node': no node 'm' defined" in message
    message = load(nodes + "jobs:\n  - id: j\n    node: n\n    commands:\n      - type: Sh\n")
    assert "s.yaml:8: key 'type': command type must be one of" in message
    message = load(nodes + "jobs:\n  - id: j\n    node: n\n    required: k\n    commands: []\n")
    assert "s.yaml:7: key 'required': no job 'k' defined before" in message
    assert "not valid YAML" in load("nodes: [\n")
    assert "s.yaml:2: jinja2" in load("nodes: []\n{% if %}\n", {"x": 1})


def test_yaml_builds_the_scheduler(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml.j2"
    path.write_text(
        "nodes:\n  - id: gw\n    hostname: gw.example\n    username: ops\n"
        "  - id: n\n    hostname: '{{host}}'\n    gateway: gw\n    formatter: TimeColonFormatter\n"
        "  - id: here\n    localnode: true\n"
        "jobs:\n  - id: a\n    node: n\n    label: ' first '\n    commands:\n"
        "      - type: Run\n        command: echo {{word}} {{unknown}}\n"
        "  - id: b\n    node: here\n    required: [a]\n    critical: false\n    commands:\n"
        "      - type: RunScript\n        local_script: x.sh\n        args: [1, 2]\n"
        "      - type: Push\n        localpaths: [a]\n        remotepath: /tmp\n"
    )
    nodes, jobs, scheduler = YamlLoader(path).load_with_maps(
        {"host": "inner.example", "word": "hi"}, save_intermediate=True
    )
    assert nodes["n"].gateway is nodes["gw"] and nodes["gw"].username == "ops"
    assert isinstance(nodes["here"], LocalNode)
    assert isinstance(nodes["n"].formatter.target, TimeColonFormatter)
    assert jobs["a"].label == "first"
    assert jobs["a"].commands[0].command_line() == "echo hi {{ unknown }}"
    assert list(jobs["b"].required) == [jobs["a"]] and not jobs["b"].critical
    assert set(scheduler.jobs) == set(jobs.values())
    assert (tmp_path / "s.yaml").read_text().count("inner.example") == 1


def test_badly_formed_jobs_are_refused_when_built() -> None:
    with pytest.raises(JobDefinitionError, match="give command= or commands="):
        SshJob(LocalNode())
    with pytest.raises(JobDefinitionError, match="commands must be"):
        SshJob(LocalNode(), commands=[Run("true"), "echo"])
    with pytest.raises(JobDefinitionError, match="SshNode or a LocalNode"):
        SshJob("host", command="true")


@pytest.mark.skipif(shutil.which("ssh-agent") is None, reason="ssh-agent is not installed")
def test_agent_keys(servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    socket_path = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket_path)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not socket_path.exists():
            assert time.monotonic() < deadline, "ssh-agent did not start"
            time.sleep(0.02)
        env = {**os.environ, "SSH_AUTH_SOCK": str(socket_path)}
        subprocess.run(["ssh-add", "-q", str(servers.client_key)], env=env, check=True)
        assert len(load_agent_keys(str(socket_path))) == 1
        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket_path))
        assert len(load_private_keys()) == 1  # the agent's keys come first
    finally:
        agent.terminate()
        agent.wait(5)


def test_connections_outlive_a_synchronous_run(servers: Servers) -> None:
    """As apssh's: a second run() reuses the first one's connection; closing ends it."""
    here = node(servers, 3)
    before = servers.stats()["connections"]
    first = Scheduler(SshJob(here, command="echo one"))
    assert first.run()
    assert here.is_connected()
    assert Scheduler(SshJob(here, command="echo two")).run()
    assert servers.stats()["connections"] == before + 1  # one connection for both runs
    assert here.formatter.get_capture() == "one\ntwo\n"
    close_ssh_in_scheduler(first)
    assert servers.wait_stats("connections_now", 0)["connections_now"] == 0


async def test_cancelling_a_command_on_a_compat_node_stops_it(servers: Servers) -> None:
    """Compat nodes run on the background loop under asyncio too: a cancelled caller
    still stops the remote command, promptly."""
    here = node(servers, 2)
    begin = time.monotonic()
    with anyio.move_on_after(0.5):
        await here.run("sleep 30")
    assert time.monotonic() - begin < 5
    assert servers.wait_stats("processes_now", 0)["processes_now"] == 0
    await here.close()
    assert not here.is_connected()


async def test_unreachable_hosts_raise_apssh_classes_that_are_native_errors(
    gateways: Servers,
) -> None:
    import asyncssh

    from tests.ssh.conftest import free_port

    off = free_port()
    gateway = node(gateways)
    options: dict[str, Any] = {
        "port": off,
        "username": gateways.username,
        "keys": [str(gateways.client_key)],
        "formatter": CaptureFormatter(verbose=False),
    }
    behind = SshNode(gateways.host, gateway=gateway, **options)
    direct = SshNode(gateways.host, **options)
    # a script's `except asyncssh.Error:` (apssh) and `except ConnectError:` both work
    with pytest.raises(asyncssh.Error) as tunnelled:
        await run_closing(SshJob(behind, command="true"))
    assert isinstance(tunnelled.value, asyncssh.misc.ChannelOpenError)
    assert isinstance(tunnelled.value, jobgraph_ssh.ConnectError)
    assert tunnelled.value.host == behind.name  # the native error's fields too
    with pytest.raises(jobgraph_ssh.ConnectError) as refused:
        await direct.connect_lazy()
    assert isinstance(refused.value, ConnectionRefusedError)
    assert type(refused.value).__name__ == "ConnectionRefusedError"  # as tracebacks show
    await co_close_ssh_in_scheduler(Scheduler(SshJob(gateway, command="true")))


def test_apssh_nodes_keep_apssh_defaults_in_one_options_object(tmp_path: Path) -> None:
    proxy = SshProxy("h.example", formatter=ColonFormatter())
    assert proxy.options == jobgraph_ssh.SshOptions(
        username=getpass.getuser(),  # apssh: the local user, named
        connect_timeout=30,  # apssh's timeout=30
        host_key_policy="ignore",  # apssh checks no host key without known_hosts
    )
    node = SshNode(
        "h.example",
        port=2222,
        keys=str(tmp_path / "k"),
        known_hosts=tmp_path / "kh",
        timeout=5,
        formatter=ColonFormatter(),
    )
    assert node.options == jobgraph_ssh.SshOptions(
        username="root",  # apssh's SshNode
        port=2222,
        keys=[tmp_path / "k"],
        known_hosts=tmp_path / "kh",
        connect_timeout=5,
        host_key_policy="strict",  # a known_hosts file given is checked
    )
