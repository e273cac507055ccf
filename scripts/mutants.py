"""Plant single-line bugs in jobgraph one at a time and see whether the tests notice.

    python scripts/mutants.py [--only NAME ...] [--area AREA ...] [--list] [-- PYTEST ARGS]

Each mutant replaces one exact piece of source text (found anywhere under ``src/``: the
engine, its views and executors, services, the SSH layer ``jobgraph_ssh`` and both
command-line tools, so it survives files moving) with a buggy one in a temporary copy
of ``src/``, and runs pytest (``-x -q``) with the given arguments, or by default with
the mutant's own test directories (those of its area: ``tests/core`` for the engine,
``tests/ssh`` for the SSH layer, ...), with that copy first on ``PYTHONPATH``, from a
scratch directory (so with a
fresh hypothesis database: no failing example remembered from an earlier run). The
worktree itself is never modified, so several runs may go on at once and no planted
bug can be committed by mistake. A mutant is *killed* when pytest fails, *survives*
when it passes.

To see what the suite caught before a test file existed, pass ``--ignore`` to pytest:
``python scripts/mutants.py -- tests/core --ignore tests/core/test_mutants.py``.
A whole-suite verdict: ``python scripts/mutants.py -- tests``.

The SSH and CLI mutants need the test servers of ``tests/ssh/conftest.py`` (asyncssh on
127.0.0.1; OpenSSH's ``sshd`` where installed).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

# the test directories each area's mutants run against by default
AREAS = {
    "engine": ["tests/core"],
    "views": ["tests/views"],
    "executors": ["tests/core/test_executors.py"],
    "services": ["tests/harness/test_fuzz_services.py", "tests/services"],
    "ssh": ["tests/ssh"],
    "cli": ["tests/cli"],
    "apssh-cli": ["tests/ssh_compat/test_cli.py"],
}


@dataclass(frozen=True)
class Mutant:
    name: str
    what: str
    old: str
    new: str
    area: str = "engine"

    @property
    def tests(self) -> list[str]:
        """The test directories (or files) run against it when none are given."""
        return AREAS[self.area]


# Left out as equivalent (no difference a user can see): starting a spare worker, or
# kicking one, when running == window (the worker returns at once: it re-checks the
# window before it takes a job): "running <= window" in _Run.kick and _Run.worker.
MUTANTS = [
    # -- the window
    Mutant(
        "window-worker-gt",
        "worker's window check >= becomes >",
        "if window is not None and self.running >= window:",
        "if window is not None and self.running > window:",
    ),
    Mutant(
        "window-spare-never",
        "worker never starts a spare (jobs run one by one until the worker blocks)",
        "if ready and not self.spare and (window is None or self.running < window):",
        "if False:",
    ),
    Mutant(
        "streak-never-yields",
        "a worker never checkpoints during a streak of instant jobs",
        "if streak == _STREAK:\n",
        "if streak < 0:\n",
    ),
    # -- readiness and skipping
    Mutant(
        "skip-last-succeeded",
        "skip not passed on when the last requirement to finish succeeded",
        "            failed = True\n",
        "            failed = failed\n",
    ),
    Mutant(
        "skip-flag-any",
        "a failed requirement marks a dependent only when it is the last one",
        "                if failed:\n                    srecord.failed_requirement = True",
        "                if failed and srecord.pending == 1:\n"
        "                    srecord.failed_requirement = True",
    ),
    Mutant(
        "skip-stack-one",
        "propagating a skip handles only the last skipped dependent",
        "                        stack.append(successor)",
        "                        stack = [successor]",
    ),
    Mutant(
        "skip-no-ended-at",
        "a skipped job gets no end time",
        "            record.ended_at = when\n",
        "            pass\n",
    ),
    Mutant(
        "skip-no-event",
        "no SKIPPED event",
        "self.emit(EventKind.SKIPPED, job)",
        "pass",
    ),
    Mutant(
        "ready-twice",
        "a second task_status.started() emits READY again",
        "if self.job._record.pending != -1 and not run.stopping:",
        "if not run.stopping:",
    ),
    Mutant(
        "ready-after-stop",
        "started() while the run winds down still emits READY",
        "if self.job._record.pending != -1 and not run.stopping:",
        "if self.job._record.pending != -1:",
    ),
    Mutant(
        "ready-no-event",
        "started() emits no READY event",
        "run.emit(EventKind.READY, self.job)",
        "pass",
    ),
    Mutant(
        "ready-no-kick",
        "started() releases dependents without making sure a worker takes them",
        "run.release(self.job, failed=False, kick=True)",
        "run.release(self.job, failed=False, kick=False)",
    ),
    Mutant(
        "forever-release-at-start",
        "a forever job taking task_status releases its dependents when it starts",
        "if status is _IGNORED and job.forever:",
        "if job.forever:",
    ),
    Mutant(
        "forever-fail-no-kick",
        "a forever job failing before started() releases without a kick",
        "self.release(job, failed=True, kick=job.forever)",
        "self.release(job, failed=True, kick=False)",
    ),
    Mutant(
        "forever-end-no-kick",
        "a forever job returning before started() releases without a kick",
        "self.release(job, failed=False, kick=job.forever)",
        "self.release(job, failed=False, kick=False)",
    ),
    # -- retries and timeouts
    Mutant(
        "retry-one-more",
        "one attempt more than the policy allows",
        "if retry is None or record.attempts >= retry.attempts or not retry.retries(exc):",
        "if retry is None or record.attempts > retry.attempts or not retry.retries(exc):",
    ),
    Mutant(
        "retry-delay-next",
        "the backoff computed for the next attempt's number",
        "delay = max(previous_delay, retry.delay(record.attempts))",
        "delay = max(previous_delay, retry.delay(record.attempts + 1))",
    ),
    Mutant(
        "retry-no-sleep",
        "the backoff announced but not waited",
        "                await anyio.sleep(delay)\n",
        "                await anyio.sleep(0)\n",
    ),
    Mutant(
        "retry-half-sleep",
        "half the backoff waited",
        "                await anyio.sleep(delay)\n",
        "                await anyio.sleep(delay / 2)\n",
    ),
    Mutant(
        "retry-may-decrease",
        "delays may decrease (jitter not kept monotonic)",
        "                previous_delay = delay\n",
        "                pass\n",
    ),
    Mutant(
        "timeout-shared-deadline",
        "the per-attempt deadline counts from the job's start",
        "with anyio.CancelScope(deadline=anyio.current_time() + timeout) as scope:",
        "with anyio.CancelScope(deadline=record.started_at + timeout) as scope:",
    ),
    # -- states
    Mutant(
        "scheduled-at-now",
        "scheduled_at stamped when queued, not when requirements ended",
        "        record.state = _SCHEDULED\n        record.scheduled_at = when\n",
        "        record.state = _SCHEDULED\n        record.scheduled_at = self.now()\n",
    ),
    Mutant(
        "forever-start-when-stopping",
        "a forever job may start after every finite job is done",
        "if job.forever and (self.stopping or self.deadline() == _CANCELLED):",
        "if job.forever and self.deadline() == _CANCELLED:",
    ),
    Mutant(
        "timeout-as-success",
        "an attempt cut by its timeout counts as a success",
        "                if not scope.cancelled_caught:\n                    return result\n",
        "                return result\n",
    ),
    Mutant(
        "retry-any-exception",
        "every exception is retried, whatever the policy's ``on``",
        "or not retry.retries(exc):",
        "or False:",
    ),
    Mutant(
        "critical-ignored",
        "a critical job's failure does not abort the run",
        "            if job.critical:\n                self.abort(job, exc)",
        "            if False:\n                self.abort(job, exc)",
    ),
    Mutant(
        "ready-one-early",
        "a job starts when one requirement is still pending",
        "if srecord.pending == 0 and self._make_ready",
        "if srecord.pending <= 1 and self._make_ready",
    ),
    # -- the end of a run (issue 28)
    Mutant(
        "stragglers-not-done",
        "stragglers are every job not done (idle, scheduled, skipped too), not the running",
        "if job._record.state is _RUNNING)",
        "if job._record.state is not _DONE)",
    ),
    Mutant(
        "abort-no-stopping",
        "a critical abort only cancels the run: it no longer stops it",
        "                self.failure.__cause__ = exc\n        self.stopping = True\n",
        "                self.failure.__cause__ = exc\n",
    ),
    Mutant(
        "jitter-absolute",
        "the retry jitter added as absolute seconds, not a fraction of the wait",
        "base += base * self.jitter * (rng or random).random()",
        "base += self.jitter * (rng or random).random()",
    ),
    # -- executors (issue 28)
    Mutant(
        "executor-stop-each-session",
        "an executor stops when any session ends, not the last one",
        "            if self._sessions == 0:\n                with anyio.CancelScope(shield=True):",
        "            if True:\n                with anyio.CancelScope(shield=True):",
        area="executors",
    ),
    Mutant(
        "thread-waits-on-cancel",
        "a cancelled job waits for its thread to finish the blocking call",
        "run_sync(body, abandon_on_cancel=True, limiter=self._limiter)",
        "run_sync(body, abandon_on_cancel=False, limiter=self._limiter)",
        area="executors",
    ),
    Mutant(
        "thread-max-workers-ignored",
        "ThreadExecutor's max_workers ignored: anyio's default 40 threads",
        "run_sync(body, abandon_on_cancel=True, limiter=self._limiter)",
        "run_sync(body, abandon_on_cancel=True, limiter=None)",
        area="executors",
    ),
    Mutant(
        "process-max-workers-ignored",
        "ProcessExecutor's max_workers ignored: one process per CPU",
        "anyio.CapacityLimiter(self.max_workers or os.cpu_count() or 1)",
        "anyio.CapacityLimiter(os.cpu_count() or 1)",
        area="executors",
    ),
    # -- views
    Mutant(
        "progress-skip-ignored",
        "the live progress ignores skipped jobs",
        '    EventKind.SKIPPED: "skipped",\n}',
        "}",
        area="views",
    ),
    Mutant(
        "progress-no-durations",
        "the progress summary's busy times are never measured",
        "                self._durations[job] = event.time - started",
        "                pass",
        area="views",
    ),
    Mutant(
        "timeline-running-cut",
        "a timeline drawn mid-run cuts a running job's bar at its start",
        "(started, ended if ended is not None else layout.end)",
        "(started, ended if ended is not None else started)",
        area="views",
    ),
    Mutant(
        "timeline-insertion-order",
        "the timeline's rows in insertion order",
        "            order = list(level.topological_order())\n"
        "        except CycleError:\n"
        "            order = list(level.jobs)\n"
        "        for job in order:\n"
        "            rows",
        "            order = list(level.jobs)\n"
        "        except CycleError:\n"
        "            order = list(level.jobs)\n"
        "        for job in order:\n"
        "            rows",
        area="views",
    ),
    Mutant(
        "listing-insertion-order",
        "the listing falls back to insertion order",
        "    for job in scheduler.topological_order():\n"
        "        if isinstance(job, Scheduler):\n"
        "            mark = _mark(job)",
        "    for job in scheduler.jobs:\n"
        "        if isinstance(job, Scheduler):\n"
        "            mark = _mark(job)",
        area="views",
    ),
    Mutant(
        "numbering-insertion-order",
        "jobs numbered in insertion order",
        "    for job in scheduler.topological_order():\n        _set_number(",
        "    for job in scheduler.jobs:\n        _set_number(",
        area="views",
    ),
    Mutant(
        "report-insertion-order",
        "the JSON report's jobs in insertion order",
        "            order = list(level.topological_order())\n"
        "        except CycleError:\n"
        "            order = list(level.jobs)\n"
        "        for job in order:\n"
        "            job_record",
        "            order = list(level.jobs)\n"
        "        except CycleError:\n"
        "            order = list(level.jobs)\n"
        "        for job in order:\n"
        "            job_record",
        area="views",
    ),
    Mutant(
        "dot-insertion-order",
        "the DOT drawing's statements in insertion order",
        "    by_rank: dict[int, list[AbstractJob]] = {}\n"
        "    for job in scheduler.topological_order():\n",
        "    by_rank: dict[int, list[AbstractJob]] = {}\n    for job in scheduler.jobs:\n",
        area="views",
    ),
    Mutant(
        "eta-over-total",
        "the ETA divides the elapsed time by the total instead of the jobs done",
        "return self._elapsed() * (total - done) / done",
        "return self._elapsed() * (total - done) / total",
        area="views",
    ),
    # -- services (the fuzz tests of tests/harness/test_fuzz_services.py)
    Mutant(
        "expose-any-policy",
        "expose() accepts anything as a policy",
        "    if not isinstance(policy, Policy):\n",
        "    if False:\n",
        area="services",
    ),
    Mutant(
        "arg-spec-any-type",
        "arg_spec() accepts anything as a type",
        "        if not _is_type_spec(wanted):\n",
        "        if False:\n",
        area="services",
    ),
    Mutant(
        "pool-any-service",
        "a pool accepts anything as a service",
        "        if not isinstance(service, Service):\n",
        "        if False:\n",
        area="services",
    ),
    Mutant(
        "allow-callers-where-ignored",
        "AllowCallers allows every caller once it has a predicate",
        "return self.where is not None and bool(self.where(caller))",
        "return self.where is not None",
        area="services",
    ),
    Mutant(
        "allow-callers-any-name",
        "AllowCallers allows every caller once it names one",
        "if caller.name in self.names or (caller.host",
        "if self.names or (caller.host",
        area="services",
    ),
    # -- the SSH layer (jobgraph_ssh)
    Mutant(
        "push-preserve-ignored",
        "Push(preserve=False) keeps modes and times all the same",
        "await node.push(self.local_paths, self.remote_dir, preserve=self.preserve)",
        "await node.push(self.local_paths, self.remote_dir, preserve=True)",
        area="ssh",
    ),
    Mutant(
        "pull-preserve-ignored",
        "Pull(preserve=False) keeps modes and times all the same",
        "await node.pull(self.remote_paths, self.local_dir, preserve=self.preserve)",
        "await node.pull(self.remote_paths, self.local_dir, preserve=True)",
        area="ssh",
    ),
    Mutant(
        "transfer-timeout-ignored",
        "Push/Pull timeout= ignored: a stuck copy is never cut off",
        "                with anyio.fail_after(self.timeout):\n"
        "                    await self.transfer(node)",
        "                with anyio.fail_after(None):\n"
        "                    await self.transfer(node)",
        area="ssh",
    ),
    Mutant(
        "command-timeout-ignored",
        "Run/Shell timeout= ignored",
        "line, env=self.env, time_limit=self.timeout,",
        "line, env=self.env, time_limit=None,",
        area="ssh",
    ),
    Mutant(
        "sshjob-requires-dropped",
        "an SshJob with ResultOf placeholders drops the user's own requires=",
        'options["requires"] = (options.get("requires"), placeholders)',
        'options["requires"] = placeholders',
        area="ssh",
    ),
    Mutant(
        "keep-output-boundary",
        "keep_output=n drops a line when exactly n characters are kept",
        "while self.size > self.limit and len(self.parts) > 1:",
        "while self.size >= self.limit and len(self.parts) > 1:",
        area="ssh",
    ),
    Mutant(
        "allowed-exit-any",
        "every exit status counts as allowed",
        "        return exit_status in self.allowed_codes",
        "        return True",
        area="ssh",
    ),
    Mutant(
        "env-dropped",
        "a command's env= never reaches the remote shell",
        "                process.stdin.write(env_script(env))",
        "                process.stdin.write('')",
        area="ssh",
    ),
    Mutant(
        "env-unquoted",
        "env= values go to the remote shell unquoted",
        'f"export {name}={shlex.quote(value)}\\n"',
        'f"export {name}={value}\\n"',
        area="ssh",
    ),
    Mutant(
        "run-unquoted",
        "Run's arguments joined without shell quoting",
        "        return shlex.join(resolve(part) for part in self.argv)",
        '        return " ".join(resolve(part) for part in self.argv)',
        area="ssh",
    ),
    Mutant(
        "host-prefix-dropped",
        "HostFormatter no longer prefixes lines with the host",
        'self._write(stream, f"{host}: {text}")',
        "self._write(stream, text)",
        area="ssh",
    ),
    Mutant(
        "stderr-tail-short",
        "the stderr tail kept in results and errors is one line short",
        "collections.deque(maxlen=STDERR_TAIL_LINES)",
        "collections.deque(maxlen=STDERR_TAIL_LINES - 1)",
        area="ssh",
    ),
    Mutant(
        "ignore-policy-checks",
        "host_key_policy='ignore' still reads and checks known_hosts",
        '        if node.host_key_policy == "ignore":\n            options["known_hosts"] = None',
        '        if node.host_key_policy == "never":\n            options["known_hosts"] = None',
        area="ssh",
    ),
    # -- the jobgraph-ssh command line
    Mutant(
        "cli-window-zero",
        "-w 0 passed on as a window of 0, not 'no limit'",
        "window=ns.window or None,",
        "window=ns.window,",
        area="cli",
    ),
    Mutant(
        "cli-port-overrides-host",
        "-p overrides the port a host gives itself",
        "port = host.port or options.ssh.port",
        "port = options.ssh.port if options.ssh.port != 22 else host.port or 22",
        area="cli",
    ),
    Mutant(
        "cli-dry-run-port",
        "the dry run shows -p instead of the port a host gives itself",
        "        port = host.port or ssh.port\n",
        "        port = ssh.port if ssh.port != 22 else host.port or 22\n",
        area="cli",
    ),
    Mutant(
        "cli-user-overrides-host",
        "-u overrides the user a host gives itself",
        '    if host.user:\n        where["username"] = host.user\n',
        '    if host.user and not options.ssh.username:\n        where["username"] = host.user\n',
        area="cli",
    ),
    Mutant(
        "cli-negative-window",
        "a negative --window accepted",
        "    if ns.window < 0:\n",
        "    if ns.window < -1:\n",
        area="cli",
    ),
    # -- apssh's command line (jobgraph_ssh.compat.apssh.cli)
    Mutant(
        "apssh-login-overrides-host",
        "apssh -l overrides the user a target gives itself",
        "return Endpoint(host.hostname, host.user or self.login, host.port)",
        "return Endpoint(host.hostname, self.login or host.user, host.port)",
        area="apssh-cli",
    ),
    Mutant(
        "apssh-marks-unreachable-ok",
        "apssh -m marks an unreachable target as ok",
        "(MARK_OK if result == 0 else MARK_FAILED)",
        "(MARK_OK if result in (0, None) else MARK_FAILED)",
        area="apssh-cli",
    ),
]


def locate(mutant: Mutant) -> Path:
    found = [
        path
        for path in sorted(SRC.rglob("*.py"))
        for _ in range(path.read_text(encoding="utf-8").count(mutant.old))
    ]
    if len(found) != 1:
        raise SystemExit(f"mutant {mutant.name}: its text occurs {len(found)} times, not once")
    return found[0]


def absolute(pytest_args: list[str]) -> list[str]:
    """The arguments, with paths of the repository made absolute (pytest runs elsewhere)."""
    made = []
    for arg in pytest_args:
        option, equal, value = arg.rpartition("=") if arg.startswith("--") else ("", "", arg)
        if (ROOT / value.split("::")[0]).exists() and not value.startswith("-"):
            value = str(ROOT / value)
        made.append(option + equal + value)
    return made


def run(mutant: Mutant, pytest_args: list[str]) -> tuple[str, float]:
    path = locate(mutant)
    original = path.read_text(encoding="utf-8")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.name}-") as scratch:
        copy = Path(scratch) / "src"
        shutil.copytree(ROOT / "src", copy, ignore=shutil.ignore_patterns("__pycache__"))
        planted = copy / path.relative_to(ROOT / "src")
        planted.write_text(original.replace(mutant.old, mutant.new), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
        config = ["-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT)]
        result = subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [
                *(sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:randomly", *config),
                *absolute(pytest_args or mutant.tests),
            ],
            cwd=scratch,  # a fresh hypothesis database: no example remembered from other runs
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    verdict = {0: "SURVIVED", 1: "killed"}.get(result.returncode, f"error {result.returncode}")
    if result.returncode == 1:
        failed = [
            line for line in result.stdout.splitlines() if line.startswith(("FAILED ", "ERROR "))
        ]
        if failed:
            test = failed[0].partition(" ")[2].split(" - ")[0]
            test = re.sub(r"^(\.\./)*", "", test).removeprefix(ROOT.as_posix().lstrip("/") + "/")
            verdict += f" by {test}"
        elif os.environ.get("MUTANTS_DEBUG"):
            verdict += "\n" + result.stdout[-3000:]
    elif result.returncode != 0:
        said = (result.stdout + result.stderr).strip().splitlines()
        verdict += ": " + (said[-1] if said else "pytest printed nothing")
    return verdict, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="mutant names to run")
    parser.add_argument("--area", nargs="*", default=None, choices=sorted(AREAS), help="areas")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("pytest_args", nargs="*", help="after --: arguments for pytest")
    options = parser.parse_args()
    unknown = set(options.only or ()) - {m.name for m in MUTANTS}
    if unknown:
        parser.error(f"no such mutant: {', '.join(sorted(unknown))}")
    chosen = [
        m
        for m in MUTANTS
        if (options.only is None or m.name in options.only)
        and (options.area is None or m.area in options.area)
    ]
    if options.list:
        for mutant in chosen:
            sys.stdout.write(
                f"{mutant.name:30} {mutant.area:10} {locate(mutant).relative_to(ROOT)}: "
                f"{mutant.what}\n"
            )
        return
    for mutant in chosen:
        verdict, seconds = run(mutant, options.pytest_args)
        sys.stdout.write(f"{mutant.name:30} {verdict}  ({seconds:.0f}s)\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
