"""Plant single-line bugs in jobgraph one at a time and see whether the tests notice.

    python scripts/mutants.py [--only NAME ...] [--list] [-- PYTEST ARGS]

Each mutant replaces one exact piece of source text (found anywhere under
``src/jobgraph``, so it survives files moving) with a buggy one in a temporary copy of
``src/``, and runs pytest with the given arguments (default: the whole suite, ``-x
-q``) with that copy first on ``PYTHONPATH``, from a scratch directory (so with a
fresh hypothesis database: no failing example remembered from an earlier run). The
worktree itself is never modified, so several runs may go on at once and no planted
bug can be committed by mistake. A mutant is *killed* when pytest fails, *survives*
when it passes.

To see what the suite caught before a test file existed, pass ``--ignore`` to pytest:
``python scripts/mutants.py -- tests/core --ignore tests/core/test_mutants.py``.
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
SRC = ROOT / "src" / "jobgraph"


@dataclass(frozen=True)
class Mutant:
    name: str
    what: str
    old: str
    new: str


MUTANTS = [
    # -- the window
    Mutant(
        "window-worker-gt",
        "worker's window check >= becomes >",
        "if window is not None and self.running >= window:",
        "if window is not None and self.running > window:",
    ),
    Mutant(
        "window-spare-le",
        "worker starts a spare when running <= window",
        "if ready and not self.spare and (window is None or self.running < window):",
        "if ready and not self.spare and (window is None or self.running <= window):",
    ),
    Mutant(
        "window-kick-le",
        "kick starts a worker when running <= window",
        "and (self.window is None or self.running < self.window)",
        "and (self.window is None or self.running <= self.window)",
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
        "if streak == _STREAK:",
        "if streak < 0:",
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
        "        record.scheduled_at = when\n",
        "        record.scheduled_at = self.now()\n",
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
    # -- views
    Mutant(
        "progress-skip-ignored",
        "the live progress ignores skipped jobs",
        '    EventKind.SKIPPED: "skipped",\n}',
        "}",
    ),
    Mutant(
        "progress-no-durations",
        "the progress summary's busy times are never measured",
        "                self._durations[job] = event.time - started",
        "                pass",
    ),
    Mutant(
        "timeline-running-cut",
        "a timeline drawn mid-run cuts a running job's bar at its start",
        "stop = ended if ended is not None else end",
        "stop = ended if ended is not None else started",
    ),
    Mutant(
        "timeline-insertion-order",
        "the timeline's rows in insertion order",
        "            order = list(level.topological_order())",
        "            order = list(level._jobs)",
    ),
    Mutant(
        "listing-insertion-order",
        "the listing falls back to insertion order",
        "        for job in self._me().topological_order():\n            if job._is_scheduler:",
        "        for job in self._me()._jobs:\n            if job._is_scheduler:",
    ),
    Mutant(
        "numbering-insertion-order",
        "jobs numbered in insertion order",
        "        for job in self._me().topological_order():\n            job._sched_id",
        "        for job in self._me()._jobs:\n            job._sched_id",
    ),
    Mutant(
        "report-insertion-order",
        "the JSON report's jobs in insertion order",
        "            order = builtins.list(level.topological_order())",
        "            order = builtins.list(level._jobs)",
    ),
    Mutant(
        "dot-insertion-order",
        "the DOT drawing's statements in insertion order",
        "    for job in scheduler.topological_order():\n",
        "    for job in scheduler._jobs:\n",
    ),
    # -- services (the fuzz tests of tests/harness/test_fuzz_services.py)
    Mutant(
        "expose-any-policy",
        "expose() accepts anything as a policy",
        "    if not isinstance(policy, Policy):\n",
        "    if False:\n",
    ),
    Mutant(
        "arg-spec-any-type",
        "arg_spec() accepts anything as a type",
        "        if not _is_type_spec(wanted):\n",
        "        if False:\n",
    ),
    Mutant(
        "pool-any-service",
        "a pool accepts anything as a service",
        "        if not isinstance(service, Service):\n",
        "        if False:\n",
    ),
    Mutant(
        "allow-callers-where-ignored",
        "AllowCallers allows every caller once it has a predicate",
        "return self.where is not None and bool(self.where(caller))",
        "return self.where is not None",
    ),
    Mutant(
        "allow-callers-any-name",
        "AllowCallers allows every caller once it names one",
        "if caller.name in self.names or (caller.host",
        "if self.names or (caller.host",
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
    for arg in pytest_args or ["tests"]:
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
            [sys.executable, "-m", "pytest", "-x", "-q", *config, *absolute(pytest_args)],
            cwd=scratch,  # a fresh hypothesis database: no example remembered from other runs
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    verdict = {0: "SURVIVED", 1: "killed"}.get(result.returncode, f"error {result.returncode}")
    if result.returncode == 1:
        failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
        if failed:
            test = failed[0].removeprefix("FAILED ").split(" - ")[0]
            test = re.sub(r"^(\.\./)*", "", test).removeprefix(ROOT.as_posix().lstrip("/") + "/")
            verdict += f" by {test}"
    elif result.returncode != 0:
        verdict += ": " + (result.stdout + result.stderr).strip().splitlines()[-1]
    return verdict, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="mutant names to run")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("pytest_args", nargs="*", help="after --: arguments for pytest")
    options = parser.parse_args()
    chosen = [m for m in MUTANTS if options.only is None or m.name in options.only]
    if options.list:
        for mutant in chosen:
            sys.stdout.write(
                f"{mutant.name:28} {locate(mutant).relative_to(ROOT)}: {mutant.what}\n"
            )
        return
    for mutant in chosen:
        verdict, seconds = run(mutant, options.pytest_args)
        sys.stdout.write(f"{mutant.name:28} {verdict}  ({seconds:.0f}s)\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
