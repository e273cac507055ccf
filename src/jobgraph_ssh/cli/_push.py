"""``--push`` through :class:`~jobgraph_ssh.services.PushFileService`: each local file
hashed once for all hosts, hosts that hold it already skipped, uploads atomic with the
local mode, and a per-host, per-file report of what was done."""

from __future__ import annotations

import os
import posixpath
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from jobgraph import services as sv
from jobgraph_ssh import Command, CommandResult, CommandTimeoutError, Node, SshError, SshNode
from jobgraph_ssh.services import PushFileService

if TYPE_CHECKING:
    from jobgraph_ssh import Formatter

__all__ = ["FilePush", "PushPlan", "PushReport", "ServicePush", "plan_push"]

SERVICE = "PushFileService"
UPLOADED, SKIPPED, MODE, FAILED = "uploaded", "skipped", "mode", "failed"


@dataclass(frozen=True)
class PushPlan:
    """What ``--push LOCAL... DIR`` copies: (local file, remote path) pairs, and the
    remote directories to make first (the destination and each local directory's)."""

    files: tuple[tuple[str, str], ...]
    directories: tuple[str, ...]


def plan_push(paths: Sequence[str], destination: str) -> PushPlan:
    """The files under ``paths`` (directories walked, symbolic links to directories
    given as files, which then fail as not regular) and where each goes."""
    files: list[tuple[str, str]] = []
    directories = [destination]
    for path in paths:
        top = posixpath.join(destination, os.path.basename(os.path.normpath(path)))
        if not os.path.isdir(path) or os.path.islink(path):
            files.append((path, top))
            continue
        for here, dirs, names in os.walk(path):
            relative = os.path.relpath(here, path)
            remote = top if relative == "." else posixpath.join(top, *relative.split(os.sep))
            directories.append(remote)
            links = [name for name in dirs if os.path.islink(os.path.join(here, name))]
            files.extend(
                (os.path.join(here, name), posixpath.join(remote, name))
                for name in sorted([*names, *links])
            )
            dirs[:] = sorted(name for name in dirs if name not in links)
    return PushPlan(tuple(files), tuple(directories))


@dataclass
class FilePush:
    """One file on one host: ``action`` is ``uploaded``, ``skipped`` (up to date),
    ``mode`` (up to date but for its mode, which was fixed) or ``failed``."""

    local: str
    remote: str
    action: str
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "local": self.local,
            "remote": self.remote,
            "action": self.action,
            "error": self.error,
        }


@dataclass
class PushReport:
    """What ``--push`` did on one host, file by file."""

    files: list[FilePush] = field(default_factory=list)
    expected: int = 0  # files the host should have got

    @property
    def result(self) -> str:
        """``failed`` if a file failed or was never pushed, ``skipped`` if every file
        was up to date, ``uploaded`` otherwise."""
        if len(self.files) < self.expected or any(f.action == FAILED for f in self.files):
            return FAILED
        if all(f.action == SKIPPED for f in self.files):
            return SKIPPED
        return UPLOADED

    def counts(self) -> dict[str, int]:
        counts = {UPLOADED: 0, MODE: 0, SKIPPED: 0, FAILED: 0}
        for item in self.files:
            counts[item.action] += 1
        counts[FAILED] += self.expected - len(self.files)  # not reached (host error)
        return counts

    def describe(self) -> str:
        """The summary's words: the result, then the counts when there are several files
        (``uploaded (1 uploaded, 2 up to date)``, ``skipped (up to date, 3 files)``)."""
        result = self.result
        if self.expected <= 1:
            return "skipped (up to date)" if result == SKIPPED else result
        words = {UPLOADED: "uploaded", MODE: "mode fixed", SKIPPED: "up to date", FAILED: "failed"}
        counts = {action: n for action, n in self.counts().items() if n}
        if len(counts) == 1:
            [(action, n)] = counts.items()
            return f"{result} ({'up to date, ' if action == SKIPPED else ''}{n} files)"
        return f"{result} ({', '.join(f'{n} {words[a]}' for a, n in counts.items())})"

    def as_json(self) -> dict[str, Any]:
        return {
            "result": self.result,
            **self.counts(),
            "files": [item.as_json() for item in self.files],
        }


def register(service: PushFileService, key: str, node: SshNode) -> None:
    """Let the service push to ``node`` under ``key`` (the host as the command names it,
    which tells apart two users or ports of one machine)."""
    service.nodes[key] = node


class ServicePush(Command):
    """The command each host's job runs for ``--push``: makes the remote directories
    (``mkdir -p``; if that fails, every file fails with its reason), then has the
    pool's PushFileService push each file in turn; a file that fails is reported and
    the others still go. Fails (exit status 1, the failed files on stderr) if any file
    failed; an error reaching the host stops it."""

    def __init__(
        self,
        pool: sv.ServicePool,
        key: str,
        plan: PushPlan,
        *,
        timeout: float | None = None,
        label: str | None = None,
    ) -> None:
        self.pool = pool
        self.key = key
        self.plan = plan
        self.report = PushReport(expected=len(plan.files))
        super().__init__(timeout=timeout, label=label)

    def command_line(self) -> str:
        sources = sorted({local for local, _ in self.plan.files})
        return f"push {' '.join(map(shlex.quote, sources))} -> {self.plan.directories[0]}"

    async def execute(self, node: Node, formatter: Formatter, keep: int | None) -> CommandResult:
        started = time.time()
        try:
            with anyio.fail_after(self.timeout):
                problems = await self._push_all(node, formatter)
        except TimeoutError as exc:
            raise CommandTimeoutError(node.name, self.label, self.timeout or 0.0) from exc
        return CommandResult(
            host=node.name,
            command=self.label,
            exit_status=1 if problems else 0,
            signal=None,
            stdout=None,
            stderr="".join(f"{line}\n" for line in problems) or None,
            started_at=started,
            ended_at=time.time(),
            allowed=not problems,
            stderr_tail=tuple(problems[-3:]),
        )

    async def _push_all(self, node: Node, formatter: Formatter) -> list[str]:
        made = " ".join(shlex.quote(path) for path in self.plan.directories)
        mkdir = await self._run(node, f"mkdir -p -- {made}", formatter, None)
        if not mkdir.allowed:
            why = mkdir.stderr_tail[-1] if mkdir.stderr_tail else f"exit status {mkdir.exit_status}"
            problem = f"cannot make {self.plan.directories[0]}: {why}"
            formatter.line(node.label, "stderr", problem)
            for local, remote in self.plan.files:  # not tried: they cannot go anywhere
                self.report.files.append(FilePush(local, remote, FAILED, problem))
            return [problem]
        problems: list[str] = []
        for local, remote in self.plan.files:
            arguments = {"host": self.key, "path": local, "remote_path": remote}
            try:
                action = await self.pool.call(SERVICE, "push", arguments)
            except SshError:
                raise  # the host, not this file: reported as the host's error
            except Exception as exc:  # noqa: BLE001 - reported per file
                reason = str(exc) or type(exc).__name__
                self.report.files.append(FilePush(local, remote, FAILED, reason))
                problem = f"failed {remote}: {reason}"
                formatter.line(node.label, "stderr", problem)
                problems.append(problem)
                continue
            self.report.files.append(FilePush(local, remote, str(action)))
            shown = {SKIPPED: "skipped (up to date)", MODE: "mode fixed"}.get(action, action)
            formatter.line(node.label, "stdout", f"{shown} {remote}")
        return problems
