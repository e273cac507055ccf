"""Call: Python functions run on the node, with nothing installed there but python3.

Each behaviour is checked on a LocalNode, on the loopback asyncssh servers and on
OpenSSH's sshd, under asyncio and trio. The functions come from a package written
into a temporary directory on this process's ``sys.path`` only: the node's
interpreter (``python3 -I``, another working directory) cannot import it by itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jobgraph as jg
from jobgraph.testing import check_job_kind
from jobgraph_ssh import (
    Call,
    CallResult,
    CaptureFormatter,
    CommandFailedError,
    CommandTimeoutError,
    ConnectionLostError,
    LocalNode,
    Node,
    RemoteError,
    SshJob,
    SshNode,
    _call,
    _call_remote,
    close_all,
)
from jobgraph_ssh._asyncssh import _glue

from .conftest import WHERE, Servers, make_node, node_for, servers_for

PYTHON38 = "/root/.pyenv/versions/3.8.18/bin/python3"

PACKAGE = {
    "__init__.py": "",
    "probes.py": """
        import os
        import sys

        from . import helpers
        import {pkg}.deep.inner as inner


        def disk_usage(path, top=5):
            print("probing", path)
            print("to stderr", file=sys.stderr)
            return {{"path": path, "top": helpers.twice(top), "inner": inner.where(),
                     "types": (b"\\x00\\xff", {{1, 2}}, dt_value())}}


        def dt_value():
            import datetime
            return datetime.date(2026, 12, 7)


        def where_am_i():
            return [os.getpid(), sys.path, [m for m in sys.modules if m.startswith("{pkg}")]]


        class ProbeError(Exception):
            pass


        def boom(what):
            helpers.twice(1)
            raise ProbeError("bad " + what)


        def unsendable():
            return {{"ok": [1, 2, object()]}}


        def stubborn(pid_file, seconds):
            import signal
            import time
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            with open(pid_file, "w") as file:
                file.write(str(os.getpid()))
            time.sleep(seconds)
            return "not stopped"


        def listens(pid_file):
            import socket
            import time
            server = socket.create_server(("127.0.0.1", 0))
            with open(pid_file, "w") as file:
                file.write(str(os.getpid()))
            try:
                time.sleep(60)
            finally:
                server.close()


        def uses_extension():
            from . import speedups
            return speedups


        def lazy():
            import {pkg}_lazy.sub as sub
            return sub.X


        def shell_out():
            import subprocess
            subprocess.run(["sh", "-c", "echo child-out; echo child-err >&2; cat"], check=True)
            return "protocol intact"


        def uses_tomllib():
            import tomllib
            return tomllib.loads("a = 1")


        def behave(what, value):
            if what == "raise":
                raise KeyError(value)
            if what == "hang":
                import time
                time.sleep(60)
            return value


        def echo(*args, **kwargs):
            return [args, kwargs]


        def version():
            return list(sys.version_info[:2])
    """,
    "helpers.py": """
        def twice(x):
            return 2 * x
    """,
    "deep/__init__.py": "",
    "deep/inner.py": """
        from ..helpers import twice


        def where():
            return [__name__, twice(21)]
    """,
    "speedups.so": "",  # a compiled extension module, as far as importlib can tell
    "../{pkg}_lazy/__init__.py": "",  # a package the controller never imports itself
    "../{pkg}_lazy/sub.py": "X = 'sub'",
}


@pytest.fixture(scope="module")
def pkg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The user's package (probes module), importable here only."""
    root = tmp_path_factory.mktemp("userlib")
    name = f"callpkg_{os.getpid()}"
    for relative, text in PACKAGE.items():
        path = root / name / relative.format(pkg=name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text.format(pkg=name)) if text else "")
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(f"{name}.probes")
    finally:
        sys.path.remove(str(root))
        for module in [m for m in sys.modules if m.startswith(name)]:
            del sys.modules[module]


def gone(pid: int) -> bool:
    """Whether the process has ended (a zombie counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


async def run_job(*jobs: SshJob) -> jg.Scheduler:
    scheduler = jg.Scheduler(*jobs)
    try:
        await scheduler.run()
    finally:
        await close_all(*jobs)
    return scheduler


async def warm_up(node: Node, pkg: ModuleType) -> None:
    """Connect ``node`` and run a first call there (on SSH nodes the interpreter then
    stays up, with the test package imported), so that a short timeout afterwards is
    spent in the call under test, even on a loaded machine."""
    warm = SshJob(node, Call(pkg.version))
    await jg.Scheduler(warm).run()
    assert warm.result()[0].value == list(sys.version_info[:2]), warm.exception


def listening() -> set[str]:
    """The listening sockets of this machine's network namespace: TCP (IPv4, IPv6) and
    Unix ones (the test hosts, sshd and every interpreter started here share it)."""
    found = set()
    for name in ("tcp", "tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A":  # LISTEN
                    found.add(f"{name} {fields[1]}")
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[3], 16) & 0x10000:  # __SO_ACCEPTCON: a listening socket
            found.add(f"unix {fields[6]} {' '.join(fields[7:])}")
    return found


async def listening_during(node: Node, call: Call, pid_file: Path) -> set[str]:
    """The sockets that start listening while ``call`` runs on ``node`` (which has
    connected and run a call already), looked at once the function wrote its pid."""
    before = listening()
    during: set[str] = set()
    job = SshJob(node, call, critical=False)
    async with anyio.create_task_group() as group:

        async def look() -> None:
            with anyio.fail_after(30):
                while not pid_file.exists() or not pid_file.read_text():  # noqa: ASYNC110, ASYNC240 - a file
                    await anyio.sleep(0.05)
            during.update(listening())
            group.cancel_scope.cancel()

        group.start_soon(look)
        group.start_soon(jg.Scheduler(job).run)
    return during - before


@pytest.mark.anyio
@pytest.mark.parametrize("where", WHERE)
async def test_a_call_opens_no_port_on_either_side(
    request: pytest.FixtureRequest, pkg: ModuleType, where: str, tmp_path: Path
) -> None:
    """The bootstrap, the modules and the call travel over the job's own connection (or
    the local process's pipes): no socket listens anywhere while a call runs; the check
    does see the port a function opens itself."""
    node = node_for(request, where, kill_grace=0.2, formatter=CaptureFormatter())
    try:
        await warm_up(node, pkg)
        quiet = await listening_during(
            node, Call(pkg.stubborn, str(tmp_path / "a"), 60), tmp_path / "a"
        )
        assert quiet == set()
        loud = await listening_during(node, Call(pkg.listens, str(tmp_path / "b")), tmp_path / "b")
        assert len(loud) == 1 and next(iter(loud)).startswith("tcp "), loud
    finally:
        await close_all(node)


# -- on every kind of node, both backends ----------------------------------------------------


@pytest.mark.anyio
async def test_call_returns_the_value_of_a_function_the_host_does_not_have(
    node: Node, formatter: CaptureFormatter, pkg: ModuleType
) -> None:
    job = SshJob(node, Call(pkg.disk_usage, "/var", top=5), Call(pkg.where_am_i))
    await run_job(job)
    first, second = job.result()
    assert isinstance(first, CallResult) and first.allowed
    name = pkg.__name__.split(".")[0]
    assert first.value == {
        "path": "/var",
        "top": 10,
        "inner": [f"{name}.deep.inner", 42],
        "types": (b"\x00\xff", {1, 2}, dt.date(2026, 12, 7)),
    }
    assert first.stdout == "probing /var\n"
    assert "to stderr" in (first.stderr or "")
    assert (node.label, "stdout", "probing /var") in formatter.lines
    assert (node.label, "stderr", "to stderr") in formatter.lines
    _pid, remote_path, modules = second.value
    assert not any(name in entry for entry in remote_path)  # it could not see the package
    assert f"{name}.probes" in modules and f"{name}.deep.inner" in modules


@pytest.mark.anyio
async def test_child_processes_of_the_function_cannot_touch_the_protocol(
    node: Node, formatter: CaptureFormatter, pkg: ModuleType
) -> None:
    job = SshJob(node, Call(pkg.shell_out), Call(pkg.version))  # cat reads stdin: empty
    await run_job(job)
    first, second = job.result()
    assert first.value == "protocol intact" and second.value == list(sys.version_info[:2])
    assert (node.label, "stdout", "child-out") in formatter.lines
    assert (node.label, "stderr", "child-err") in formatter.lines


@pytest.mark.anyio
async def test_call_that_raises_fails_the_job_with_remote_error(
    node: Node, pkg: ModuleType
) -> None:
    job = SshJob(node, Call(pkg.boom, "news"), label="boom")
    await run_job(job)
    error = job.exception
    assert isinstance(error, RemoteError) and isinstance(error, CommandFailedError)
    assert error.remote_type == f"{pkg.__name__}.ProbeError"
    assert error.remote_message == "bad news"
    assert 'raise ProbeError("bad " + what)' in error.remote_traceback
    assert error.job == "boom" and error.host == node.name
    assert "bad news" in str(error) and node.name in str(error)
    assert len(error.results) == 1 and not error.results[0].allowed


@pytest.mark.anyio
async def test_call_whose_value_does_not_encode_fails_naming_its_type(
    node: Node, pkg: ModuleType
) -> None:
    job = SshJob(node, Call(pkg.unsendable))
    await run_job(job)
    error = job.exception
    assert isinstance(error, RemoteError)
    assert error.remote_type == "TypeError"
    assert "cannot send a value of type object" in error.remote_message
    assert "return value of unsendable" in error.remote_message


@pytest.mark.anyio
async def test_call_timeout_stops_a_function_that_ignores_sigterm(
    node: Node, pkg: ModuleType, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    call = Call(pkg.stubborn, str(pid_file), 60).options(timeout=3)
    job = SshJob(node, call, label="slow", critical=False)
    after = SshJob(node, Call(pkg.version), requires=job)
    scheduler = jg.Scheduler(job, after)
    try:
        await warm_up(node, pkg)
        started = time.monotonic()
        await scheduler.run()
        assert isinstance(job.exception, CommandTimeoutError)
        assert time.monotonic() - started < 20
        pid = int(pid_file.read_text())
        with anyio.fail_after(10):
            while not gone(pid):  # noqa: ASYNC110 - polling /proc, there is no event
                await anyio.sleep(0.05)
        # the next Call on the node starts a fresh interpreter
        assert after.result()[0].value == list(sys.version_info[:2])
    finally:
        await close_all(job, after)


@pytest.mark.anyio
async def test_call_timeout_stops_the_function_with_a_single_channel(
    sshd: Servers, pkg: ModuleType, tmp_path: Path
) -> None:
    node = make_node(sshd, max_channels=1, formatter=CaptureFormatter())
    pid_file = tmp_path / "pid"
    job = SshJob(node, Call(pkg.stubborn, str(pid_file), 60).options(timeout=3))
    try:
        await warm_up(node, pkg)
        await jg.Scheduler(job).run()
        assert isinstance(job.exception, CommandTimeoutError)
        pid = int(pid_file.read_text())
        with anyio.fail_after(10):
            while not gone(pid):  # noqa: ASYNC110 - polling /proc, there is no event
                await anyio.sleep(0.05)
    finally:
        await close_all(node)


@pytest.mark.anyio
async def test_call_with_no_python_on_the_host_fails_naming_the_host(
    node: Node, pkg: ModuleType
) -> None:
    job = SshJob(node, Call(pkg.version).options(python="no-such-python3"))
    await run_job(job)
    error = job.exception
    assert isinstance(error, CommandFailedError) and not isinstance(error, RemoteError)
    assert error.exit_status == 127
    assert node.name in str(error)
    assert "'no-such-python3'" in str(error) and "did not start" in str(error)


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["asyncssh", "sshd"])
async def test_calls_on_one_node_share_one_interpreter_and_modules_go_once(
    node: Node, pkg: ModuleType
) -> None:
    assert isinstance(node, SshNode)
    jobs = [SshJob(node, Call(pkg.disk_usage, f"/d{i}"), Call(pkg.where_am_i)) for i in range(4)]
    scheduler = jg.Scheduler(*jobs)
    try:
        assert await scheduler.run()
        pids = {job.result()[1].value[0] for job in jobs}
        assert len(pids) == 1
        session = await _glue.call(_session_of, node)
        assert session is not None
        assert sorted(session.sent) == sorted(set(session.sent))  # each module sent once
        name = pkg.__name__.split(".")[0]
        assert {f"{name}.probes", f"{name}.helpers", f"{name}.deep.inner"} <= set(session.sent)
    finally:
        await close_all(node)
    assert await _glue.call(_session_of, node) is None  # closed with the connection


async def _session_of(node: SshNode) -> Any:
    return _call.session_of(node)


@pytest.mark.anyio
async def test_call_through_a_gateway(servers: Servers, gateways: Servers, pkg: ModuleType) -> None:
    formatter = CaptureFormatter()
    gateway = make_node(gateways, 0, formatter=formatter)
    node = make_node(servers, 1, gateway=gateway, formatter=formatter)
    job = SshJob(node, Call(pkg.disk_usage, "/gw", top=2))
    await run_job(job)
    assert job.result()[0].value["top"] == 4
    await close_all(gateway)


@pytest.mark.anyio
async def test_cancelled_call_stops_a_function_that_ignores_sigterm(
    node: Node, pkg: ModuleType, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    job = SshJob(node, Call(pkg.stubborn, str(pid_file), 60), timeout=3)
    try:
        await warm_up(node, pkg)
        await jg.Scheduler(job).run()
        assert isinstance(job.exception, jg.JobTimeoutError)
        pid = int(pid_file.read_text())
        with anyio.fail_after(10):
            while not gone(pid):  # noqa: ASYNC110 - polling /proc, there is no event
                await anyio.sleep(0.05)
        again = SshJob(node, Call(pkg.version))
        await jg.Scheduler(again).run()
        assert again.result()[0].value == list(sys.version_info[:2])
    finally:
        await close_all(node)


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["asyncssh", "sshd"])
async def test_a_connection_closed_during_a_call_fails_the_job_as_lost(
    node: Node, pkg: ModuleType, tmp_path: Path
) -> None:
    assert isinstance(node, SshNode)
    pid_file = tmp_path / "pid"
    job = SshJob(node, Call(pkg.stubborn, str(pid_file), 30).options(label="sleeper"))

    async def close_when_running() -> None:
        while not pid_file.exists() or not pid_file.read_text():  # noqa: ASYNC110 - a file
            await anyio.sleep(0.05)
        await close_all(node)

    try:
        with anyio.fail_after(30):
            await jg.Scheduler(job, jg.Job(close_when_running)).run()
    finally:
        await close_all(node)
        if pid_file.exists():  # nobody is left to stop it on the host: the test does
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
    assert isinstance(job.exception, ConnectionLostError), repr(job.exception)
    assert "connection lost while calling 'sleeper'" in str(job.exception)


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["asyncssh", "sshd"])
async def test_fifty_hosts_at_once(
    request: pytest.FixtureRequest, pkg: ModuleType, where: str
) -> None:
    servers = servers_for(request, where)
    formatter = CaptureFormatter()
    nodes = [make_node(servers, i % len(servers.ports), formatter=formatter) for i in range(50)]
    jobs = [SshJob(node, Call(pkg.disk_usage, f"/h{i}", top=i)) for i, node in enumerate(nodes)]
    scheduler = jg.Scheduler(*jobs)
    try:
        with anyio.fail_after(120):
            assert await scheduler.run()
    finally:
        await close_all(*nodes)
    assert [job.result()[0].value["top"] for job in jobs] == [2 * i for i in range(50)]


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["local", "asyncssh"])
async def test_compiled_extension_module_is_refused_by_name(node: Node, pkg: ModuleType) -> None:
    job = SshJob(node, Call(pkg.uses_extension))
    await run_job(job)
    error = job.exception
    assert isinstance(error, RemoteError) and error.remote_type == "ImportError"
    assert f"module {pkg.__name__.rsplit('.', 1)[0]}.speedups is a compiled extension" in str(error)


@pytest.mark.anyio
@pytest.mark.skipif(not os.path.exists(PYTHON38), reason="no Python 3.8 here")
async def test_the_bootstrap_runs_on_python_3_8(pkg: ModuleType) -> None:
    job = SshJob(
        LocalNode(formatter=CaptureFormatter()),
        Call(pkg.disk_usage, "/p").options(python=PYTHON38),
        Call(pkg.version).options(python=PYTHON38),
    )
    await run_job(job)
    assert job.result()[0].value["top"] == 10
    assert job.result()[1].value == [3, 8]


@pytest.mark.anyio
async def test_a_module_asked_for_is_not_imported_by_the_controller(pkg: ModuleType) -> None:
    name = pkg.__name__.split(".")[0]
    job = SshJob(LocalNode(formatter=CaptureFormatter()), Call(pkg.lazy))
    await run_job(job)
    assert job.result()[0].value == "sub"
    assert f"{name}_lazy" not in sys.modules


async def produce() -> dict[str, Any]:
    return {"n": 3, "when": dt.date(2026, 1, 1)}


@pytest.mark.anyio
async def test_a_result_of_another_job_is_passed_as_it_is(pkg: ModuleType) -> None:
    producer = jg.Job(produce, label="producer")
    call = Call(pkg.echo, jg.ResultOf(producer), key=jg.ResultOf(producer, lambda r: r["n"]))
    assert call.label == f"call {pkg.__name__}.echo(<result of producer>, key=<result of producer>)"
    job = SshJob(LocalNode(formatter=CaptureFormatter()), call)  # requires the producer
    assert await jg.Scheduler(producer, job).run()
    assert job.result()[0].value == [({"n": 3, "when": dt.date(2026, 1, 1)},), {"key": 3}]


PYTHON36 = "/root/.pyenv/versions/3.6.15/bin/python3"


@pytest.mark.anyio
@pytest.mark.skipif(not os.path.exists(PYTHON36), reason="no Python 3.6 here")
async def test_a_python_too_old_fails_naming_the_host_and_saying_why(pkg: ModuleType) -> None:
    node = LocalNode(formatter=CaptureFormatter())
    job = SshJob(node, Call(pkg.version).options(python=PYTHON36))
    await run_job(job)
    error = job.exception
    assert isinstance(error, CommandFailedError) and not isinstance(error, RemoteError)
    assert "did not start" in str(error) and "localhost" in str(error)
    assert "SyntaxError" in (error.results[0].stderr or "")


@pytest.mark.anyio
async def test_a_garbled_answer_fails_the_call_saying_so(pkg: ModuleType, tmp_path: Path) -> None:
    impostor = tmp_path / "python3"
    impostor.write_text("#!/bin/sh\nprintf '\\000\\000\\000\\002{]'\nexec sleep 30\n")
    impostor.chmod(0o755)
    job = SshJob(
        LocalNode(formatter=CaptureFormatter()), Call(pkg.version).options(python=str(impostor))
    )
    with anyio.fail_after(20):
        await run_job(job)
    error = job.exception
    assert isinstance(error, CommandFailedError) and not isinstance(error, RemoteError)
    assert "garbled message from the node" in str(error)


@pytest.mark.anyio
@pytest.mark.skipif(not os.path.exists(PYTHON38), reason="no Python 3.8 here")
async def test_the_controllers_standard_library_is_never_sent(pkg: ModuleType) -> None:
    job = SshJob(
        LocalNode(formatter=CaptureFormatter()), Call(pkg.uses_tomllib).options(python=PYTHON38)
    )
    await run_job(job)
    error = job.exception  # tomllib is in 3.11's standard library, not in 3.8's
    assert isinstance(error, RemoteError) and error.remote_type == "ModuleNotFoundError"
    assert "tomllib" in error.remote_message


# -- checks made when the Call is made -------------------------------------------------------


def nested() -> Any:
    def inner() -> None:
        pass

    return inner


class Tool:
    @classmethod
    def build(cls, size: int) -> list[int]:
        return [size]

    def use(self) -> None:
        pass


def test_classmethods_are_called_by_name_and_bound_methods_refused() -> None:
    assert Call(Tool.build, 3).qualname == "Tool.build"
    with pytest.raises(jg.InvalidOptionError, match="cannot find"):
        Call(Tool().use)


def test_lambdas_and_nested_functions_are_refused() -> None:
    with pytest.raises(jg.InvalidOptionError, match="cannot send a lambda"):
        Call(lambda: 1)
    with pytest.raises(jg.InvalidOptionError, match="cannot send a nested function"):
        Call(nested())


def test_an_argument_that_does_not_encode_is_refused_naming_its_type() -> None:
    with pytest.raises(jg.InvalidOptionError, match=r"type object .*arguments of nested"):
        Call(nested, {"x": object()})
    with pytest.raises(jg.InvalidOptionError, match="type complex"):
        Call(nested, 1j)


def test_options_do_not_collide_with_the_function_keywords(pkg: ModuleType) -> None:
    call = Call(pkg.disk_usage, "/", timeout=3, label="x")
    assert call.kwargs == {"timeout": 3, "label": "x"} and call.timeout is None
    limited = call.options(timeout=5).options(label="du")
    assert (limited.timeout, limited.label) == (5, "du")
    assert call.timeout is None and call.label.startswith("call ")
    with pytest.raises(jg.InvalidOptionError, match="timeout"):
        call.options(timeout=-1)


def test_wire_round_trips_every_documented_type() -> None:
    value = {
        "none": None,
        "flags": [True, False],
        "numbers": [1, 2**80, 1.5],
        "text": "é\udcff",
        "bytes": b"\x00\x01",
        "tuple": (1, (2, 3)),
        "sets": [{1, 2}, frozenset({"a"})],
        "odd keys": {1: "one", (2, 3): "pair"},
        "$t": "a key that looks like a tag",
        "when": [
            dt.datetime(2026, 12, 7, 3, 4, 5, 6, tzinfo=dt.UTC),
            dt.date(2026, 1, 2),
            dt.time(1, 2, 3),
            dt.timedelta(days=1, seconds=2, microseconds=3),
        ],
        "path": PurePosixPath("/etc/hosts"),
    }
    wire = _call_remote.decode(
        __import__("json").loads(_call_remote.frame(_call_remote.encode(value))[4:])
    )
    assert wire == value
    assert isinstance(wire["path"], Path)


def test_check_job_kind_passes_for_ssh_jobs_of_calls() -> None:
    def kind(**options: Any) -> SshJob:
        return SshJob(LocalNode(formatter=CaptureFormatter()), Call(time.sleep, 0.5), **options)

    report = check_job_kind(kind, patience=20, probe=0.2, shutdown_timeout=3)
    assert report.ok, str(report)


def test_check_job_kind_passes_for_ssh_jobs_of_calls_on_an_ssh_node(servers: Servers) -> None:
    nodes: list[SshNode] = []

    def kind(**options: Any) -> SshJob:
        nodes.append(make_node(servers, 2, formatter=CaptureFormatter()))
        return SshJob(nodes[-1], Call(time.sleep, 0.5), **options)

    try:
        report = check_job_kind(kind, patience=20, probe=0.2, shutdown_timeout=3)
    finally:  # connections made under trio live on the background loop: close them there
        anyio.run(close_all, nodes, backend="trio")
    assert report.ok, str(report)


def test_a_function_from_main_runs_when_its_source_is_available(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent("""
            def hello(name):
                return "hello " + name + " from " + __name__

            if __name__ == "__main__":  # the node runs the top level too: import here
                import jobgraph as jg
                from jobgraph_ssh import Call, LocalNode, SshJob

                job = SshJob(LocalNode(), Call(hello, "node"))
                jg.run(jg.Scheduler(job))
                print(job.result()[0].value)
        """)
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-W", "ignore", str(script)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("hello node from __jobgraph_main__")


# -- drawn graphs of Calls on a LocalNode -----------------------------------------------------

BEHAVIOURS = st.lists(
    st.tuples(st.sampled_from(["return", "raise", "hang"]), st.integers(-5, 5)),
    min_size=1,
    max_size=3,
)


@settings(max_examples=10, deadline=None)
@given(
    jobs=st.lists(BEHAVIOURS, min_size=1, max_size=3), backend=st.sampled_from(["asyncio", "trio"])
)
def test_drawn_jobs_of_calls_end_as_their_functions_do(
    pkg: ModuleType, jobs: list[list[tuple[str, int]]], backend: str
) -> None:
    node = LocalNode(kill_grace=0.2, formatter=CaptureFormatter())
    built = [
        SshJob(
            node,
            [
                # long enough for an interpreter start on a loaded machine; "hang" sleeps 60 s
                Call(pkg.behave, what, value).options(timeout=3)
                for what, value in calls
            ],
            critical=False,
            label=f"job {n}",
        )
        for n, calls in enumerate(jobs)
    ]
    jg.run(jg.Scheduler(*built), backend=backend)
    for job, calls in zip(built, jobs, strict=True):
        kinds = [what for what, _ in calls]
        error = job.exception
        if "hang" in kinds:  # it times out, which ends the job at once
            assert isinstance(error, CommandTimeoutError), repr(error)
        elif "raise" in kinds:  # non-critical: the job goes on, then raises the first failure
            value = calls[kinds.index("raise")][1]
            assert isinstance(error, RemoteError), repr(error)
            assert (error.remote_type, error.remote_message) == ("KeyError", str(value))
            assert len(error.results) == len(calls)
        else:
            assert [r.value for r in job.result()] == [value for _, value in calls]
