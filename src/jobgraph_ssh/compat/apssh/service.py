"""apssh's Service: start, check and stop a remote command as a transient systemd unit."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from jobgraph_ssh import Deferred

from .commands import Run

__all__ = ["Service"]


class Service:
    """A long-running remote command run by ``systemd-run`` as unit ``service_id``.

    :meth:`start_command`, :meth:`status_command` and :meth:`stop_command` give
    :class:`Run` commands to put in SshJobs. ``tty`` runs the service on a
    pseudo-terminal (``systemd-run --pty``); ``systemd_type`` is the unit's
    ``Type=`` (``simple`` for a command that stays in the foreground); ``environ``
    adds variables to the service's (small) environment; with ``stop_if_running``,
    starting first stops a unit of that name that is still active and forgets a
    failed one. ``command`` may be a :class:`Deferred`: the start command is then one
    too, on the same variables.
    """

    def __init__(
        self,
        command: str | Deferred,
        *,
        service_id: str,
        tty: bool = False,
        systemd_type: str = "simple",
        environ: Mapping[str, Any] | None = None,
        stop_if_running: bool = True,
        verbose: bool = False,
    ) -> None:
        self.command = command
        self.service_id = service_id
        self.tty = tty
        self.systemd_type = systemd_type
        self.environ = dict(environ or {})
        self.stop_if_running = stop_if_running
        self.verbose = verbose

    def _systemctl(self, action: str, *, quiet: bool = False) -> str:
        line = f"systemctl {action} {shlex.quote(self.service_id)}"
        return line + " >/dev/null 2>&1" if quiet else line

    def _start_line(self) -> str | Deferred:
        steps = []
        if self.stop_if_running:
            steps.append(f"{self._systemctl('is-active', quiet=True)} && {self._systemctl('stop')}")
            steps.append(self._systemctl("reset-failed", quiet=True))
        options = ["--pty"] if self.tty else []
        options += [f"--setenv={name}={shlex.quote(str(v))}" for name, v in self.environ.items()]
        options += [f"--unit={self.service_id}", f"--service-type={self.systemd_type}"]
        steps.append(f"systemd-run {' '.join(options)} {self.command}")
        line = "; ".join(steps)
        if isinstance(self.command, Deferred):
            return self.command.dup_from_string(line)
        return line

    def _label(self, mode: str, given: str | None) -> str:
        return given if given is not None else f"Service: {mode} {self.service_id}"

    def start_command(self, *, label: str | None = None, **kwds: Any) -> Run:
        """A :class:`Run` that starts the service (``kwds`` go to Run)."""
        return Run(self._start_line(), label=self._label("start", label), **kwds)

    def stop_command(self, *, label: str | None = None, **kwds: Any) -> Run:
        """A :class:`Run` that stops the service."""
        return Run(self._systemctl("stop"), label=self._label("stop", label), **kwds)

    def status_command(
        self, *, output: str | None = None, label: str | None = None, **kwds: Any
    ) -> Run:
        """A :class:`Run` that shows ``systemctl status`` (into file ``output`` if given)."""
        line = self._systemctl("status") + (f" > {output}" if output else "")
        return Run(line, label=self._label("status", label), **kwds)

    def journal_command(
        self, *, label: str | None = None, since: str | None = None, **kwds: Any
    ) -> Run:
        """A :class:`Run` that shows the service's journal (``since``: journalctl's)."""
        line = f"journalctl --unit {shlex.quote(self.service_id)}"
        if since:
            line += f" --since {shlex.quote(since)}"
        return Run(line, label=self._label("journal", label), **kwds)
