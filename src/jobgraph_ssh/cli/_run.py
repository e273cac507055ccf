"""Running: nodes and jobs from the options, one scheduler run, Ctrl-C, outcomes."""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import anyio

import jobgraph as jg
from jobgraph import services as sv
from jobgraph.lowlevel import journal_mark_of
from jobgraph_ssh import (
    Command,
    CommandFailedError,
    Pull,
    RunScript,
    Shell,
    SshJob,
    SshNode,
    close_all,
    set_limits,
)
from jobgraph_ssh.services import PushFileService

from ._options import Options
from ._output import HostOutcome, LineSink, ProgressView, describe_error
from ._push import PushPlan, ServicePush, plan_push, register
from ._targets import Host

__all__ = ["Session", "build", "execute", "plan"]

SHUTDOWN_TIMEOUT = 5.0  # seconds given to stopped hosts to stop their remote command
CLOSE_TIMEOUT = 5.0


@dataclass
class Session:
    """The nodes and jobs of one run, and how it ended."""

    options: Options
    sink: LineSink
    jobs: list[SshJob]
    scheduler: jg.Scheduler
    pool: sv.ServicePool | None = None  # --push: the pool running PushFileService
    pushes: dict[str, ServicePush] = field(default_factory=dict)  # --push: by host
    interrupted: int = 0  # the signal that stopped the run, if one did
    elapsed: float = 0.0
    outcomes: list[HostOutcome] = field(default_factory=list)


def _node(
    options: Options, host: Host, gateway: SshNode | None, *, port: int | None, **more: Any
) -> SshNode:
    """A host's node: the run's SshOptions, with the host's own user and port if its
    target names them (``port``: the host's, or the default for it)."""
    where: dict[str, Any] = {"port": port}
    if host.user:
        where["username"] = host.user
    return SshNode(host.hostname, options=options.ssh, gateway=gateway, **where, **more)


def _gateway_chain(options: Options) -> SshNode | None:
    """The ``-g`` nodes, nearest first (``-p`` is for targets: a gateway's port is its
    own, or 22)."""
    gateway: SshNode | None = None
    for host in options.gateways:
        gateway = _node(options, host, gateway, port=host.port or 22)
    return gateway


def _command(options: Options, host: Host) -> Command:
    limit = options.command_timeout
    if options.mode == "script":
        assert options.script is not None
        return RunScript(options.script, *options.command, includes=options.includes, timeout=limit)
    if options.mode == "pull":
        local = os.path.join(options.destination, host.name.replace("/", "_"))
        return Pull(options.paths, local, timeout=limit)
    return Shell(" ".join(options.command), timeout=limit)


def node_for(options: Options, host: Host, gateway: SshNode | None, sink: LineSink) -> SshNode:
    """The node of one target host, its output going to ``sink``."""
    port = host.port or options.ssh.port
    return _node(options, host, gateway, port=port, formatter=sink, label=host.name)


def build(options: Options, sink: LineSink) -> Session:
    """The nodes, one job per host, and their scheduler (nothing connects yet).

    ``--push`` goes through a :class:`PushFileService` (in a pool that runs with the
    scheduler): each file hashed once, up-to-date hosts skipped, uploads atomic."""
    gateway = _gateway_chain(options)
    service: PushFileService | None = None
    plan: PushPlan | None = None
    pushes: dict[str, ServicePush] = {}
    pool: sv.ServicePool | None = None
    if options.mode == "push":
        service = PushFileService([])
        pool = sv.ServicePool([service], label="jobgraph-ssh push")
        plan = plan_push(options.paths, options.destination)
    jobs: list[SshJob] = []
    for host in options.hosts:
        node = node_for(options, host, gateway, sink)
        command: Command
        if service is not None and pool is not None and plan is not None:
            register(service, host.name, node)
            command = pushes[host.name] = ServicePush(
                pool, host.name, plan, timeout=options.command_timeout
            )
        else:
            command = _command(options, host)
        jobs.append(SshJob(node, command, label=host.name, critical=False, keep_output=False))
    scheduler = jg.Scheduler(
        *jobs,
        jobs_window=options.window,
        timeout=options.timeout,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        label=_label(options),
    )
    return Session(options, sink, jobs, scheduler, pool=pool, pushes=pushes)


def _label(options: Options) -> str:
    """The scheduler's label; with a journal, it names the command and the targets, so
    that ``--resume`` resumes only a run of the same command on the same hosts."""
    if options.journal is None:
        return "jobgraph-ssh"
    targets = hashlib.blake2b(
        "\n".join(sorted(host.name for host in options.hosts)).encode(), digest_size=4
    ).hexdigest()
    return f"jobgraph-ssh {options.describe_command()} [{len(options.hosts)} hosts {targets}]"


def _connect_timeout(options: Options) -> str:
    seconds = options.ssh.connect_timeout
    return "no connect timeout" if seconds is None else f"connect timeout {seconds:g}s"


def _restored(run: Session) -> int:
    return sum(1 for job in run.jobs if journal_mark_of(job) == "↺ restored")


def plan(options: Options) -> str:
    """What a run would do, in words (``--dry-run``)."""
    ssh = options.ssh
    gateway = _gateway_chain(options)
    chain: list[str] = []
    while gateway is not None:
        chain.insert(0, gateway.name if gateway.port != 22 else f"{gateway.name}:22")
        gateway = gateway.gateway
    limits = [
        f"window {options.window or 'unlimited'}",
        f"{options.handshakes or set_limits().handshakes} handshakes at once",
        _connect_timeout(options),
        f"run timeout {options.timeout:g}s" if options.timeout else "no run timeout",
        f"command timeout {options.command_timeout:g}s"
        if options.command_timeout
        else "no command timeout",
        f"host keys {ssh.host_key_policy}" + (f" ({ssh.known_hosts})" if ssh.known_hosts else ""),
        f"keys {', '.join(map(str, ssh.keys))}"
        if isinstance(ssh.keys, tuple) and ssh.keys
        else "keys from the agent, then ~/.ssh",
        f"backend {options.backend}",
    ]
    lines = [
        f"dry run: {len(options.hosts)} host{'s' if len(options.hosts) != 1 else ''}, "
        + ", ".join(limits),
        f"gateways: {' -> '.join(chain)}" if chain else "gateways: none (direct)",
        f"run: {options.describe_command()}",
        "hosts:",
    ]
    for host in options.hosts:
        user = host.user or ssh.username
        port = host.port or ssh.port
        where = f"{user + '@' if user else ''}{host.hostname}:{port}"
        lines.append(f"  {host.name:<30} {where}")
    return "\n".join(lines) + "\n"


async def _watch_signals(run: Session, scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            if run.interrupted:  # a second Ctrl-C: give up on a clean stop
                sys.stderr.write("jobgraph-ssh: interrupted again, exiting at once\n")
                sys.stderr.flush()
                os._exit(128 + signum)
            run.interrupted = signum
            if not run.options.quiet:
                sys.stderr.write("jobgraph-ssh: interrupted, stopping the remote commands...\n")
                sys.stderr.flush()
            scope.cancel()


async def _run_scheduler(run: Session) -> None:
    async with anyio.create_task_group() as group:
        with anyio.CancelScope() as scope:
            group.start_soon(_watch_signals, run, scope)
            try:
                journal = run.options.journal
                if run.pool is None:
                    await run.scheduler.run(journal=journal, resume=run.options.resume)
                else:
                    async with run.pool:
                        await run.scheduler.run(journal=journal, resume=run.options.resume)
            finally:
                with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_TIMEOUT):
                    await close_all(run.jobs)
        group.cancel_scope.cancel()


def execute(run: Session) -> None:
    """Run the scheduler (on ``--backend``: asyncio or trio), with the progress view
    unless quiet; fill ``run.outcomes``. Ctrl-C (or SIGTERM) stops the hosts' commands
    cleanly."""
    if run.options.handshakes is not None:
        set_limits(handshakes=run.options.handshakes)
    started = time.monotonic()
    try:
        if run.options.quiet:
            anyio.run(_run_scheduler, run, backend=run.options.backend)
        else:
            with ProgressView(run.scheduler).shown():
                anyio.run(_run_scheduler, run, backend=run.options.backend)
    except KeyboardInterrupt:  # before the signal receiver was in place
        run.interrupted = signal.SIGINT
    run.elapsed = time.monotonic() - started
    run.outcomes = [outcome_of(run, job) for job in run.jobs]
    if run.options.resume:
        skipped = _restored(run)
        sys.stderr.write(
            f"jobgraph-ssh: --resume: {skipped} host{'s' if skipped != 1 else ''} "
            f"skipped as done in {run.options.journal}\n"
        )


def outcome_of(run: Session, job: SshJob) -> HostOutcome:
    """What became of one host's job."""
    host = job.label
    record = job.record
    outcome = HostOutcome(host, "ok", duration=record.duration)
    outcome.stdout = run.sink.text(host, "stdout")
    outcome.stderr = run.sink.text(host, "stderr")
    outcome.stdout_cut = run.sink.cut(host, "stdout")
    outcome.stderr_cut = run.sink.cut(host, "stderr")
    push = run.pushes.get(host)
    if push is not None:
        outcome.push = push.report
    state = record.outcome
    if state == "ok":
        results = job.result()
        last = results[-1]
        outcome.exit_status, outcome.signal = last.exit_status, last.signal
    elif state == "failed":
        exc = record.exception
        assert exc is not None
        outcome.status, outcome.error = describe_error(exc)
        if isinstance(exc, CommandFailedError):
            outcome.exit_status, outcome.signal = exc.exit_status, exc.signal
    elif state == "cancelled":
        if run.interrupted:
            outcome.status, outcome.error = "interrupted", "stopped by an interrupt"
        elif isinstance(run.scheduler.failure, jg.SchedulerTimeoutError):
            timeout = run.options.timeout or 0.0
            outcome.status, outcome.error = "timeout", f"stopped by --timeout {timeout:g}s"
        else:
            outcome.status, outcome.error = "interrupted", "cancelled"
    else:  # never started
        outcome.status = "not run"
        outcome.error = (
            "interrupted before its turn"
            if run.interrupted
            else "the run timed out before its turn"
        )
    return outcome
