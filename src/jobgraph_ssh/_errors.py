"""Errors of the SSH layer, all under :class:`jobgraph.JobGraphError`.

::

    JobGraphError
    └── SshError                  every error below names its host (and job, once known)
        ├── ConnectError          TCP connect, handshake or gateway failure; timeouts
        │   ├── HostKeyError      the host's key is unknown or changed (fingerprint given)
        │   └── AuthError         no key was accepted by the server
        ├── KeyFileError          a key file cannot be read or needs a passphrase
        ├── ConnectionLostError   the connection dropped while a command ran
        ├── CommandFailedError    a command ended with a status not allowed
        │   └── RemoteError       the function of a Call raised on the node
        └── CommandTimeoutError   a command exceeded its own timeout (also TimeoutError)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from jobgraph import JobGraphError

if TYPE_CHECKING:
    from ._commands import CommandResult

__all__ = [
    "AuthError",
    "CommandFailedError",
    "CommandTimeoutError",
    "ConnectError",
    "ConnectionLostError",
    "HostKeyError",
    "KeyFileError",
    "SshError",
]


class SshError(JobGraphError):
    """The root of the SSH layer's errors.

    Attributes:
        host: the node's name (``user@host:port`` or ``localhost``).
        job: the label of the job that met the error, once known (else None).
        results: the results of the commands that ran before (and including) the
            failure, when the error comes out of an :class:`~jobgraph_ssh.SshJob`.
    """

    def __init__(self, host: str, message: str) -> None:
        super().__init__(message)
        self.host = host
        self.message = message
        self.job: str | None = None
        self.results: tuple[CommandResult, ...] = ()

    def __str__(self) -> str:
        where = f"job {self.job!r} on {self.host}" if self.job else self.host
        return f"{where}: {self.message}"


class ConnectError(SshError):
    """The node could not be reached, or the SSH handshake did not complete."""


class HostKeyError(ConnectError):
    """The host's key is not in known_hosts (``changed=False``) or differs from it.

    Attributes:
        fingerprint: the SHA256 fingerprint of the key the host offered.
        changed: True when known_hosts lists other keys for this host.
    """

    def __init__(self, host: str, message: str, *, fingerprint: str, changed: bool) -> None:
        super().__init__(host, message)
        self.fingerprint = fingerprint
        self.changed = changed


class AuthError(ConnectError):
    """The server accepted none of the client's keys."""


class KeyFileError(SshError):
    """A private key file cannot be used (missing, unreadable, encrypted without passphrase).

    Attributes:
        path: the key file.
    """

    def __init__(self, host: str, message: str, *, path: str) -> None:
        super().__init__(host, message)
        self.path = path


class ConnectionLostError(SshError):
    """The connection dropped while a command was running."""


class CommandFailedError(SshError):
    """A command ended with an exit status (or signal) that was not allowed.

    Attributes:
        command: the command line as sent.
        exit_status: its exit status, or None if it ended on a signal.
        signal: the signal name (``"TERM"``), or None.
        stderr_tail: the last lines it wrote on stderr.
    """

    def __init__(
        self,
        host: str,
        command: str,
        *,
        exit_status: int | None,
        signal: str | None,
        stderr_tail: Sequence[str] = (),
        more: int = 0,
    ) -> None:
        how = f"exit status {exit_status}" if signal is None else f"signal {signal}"
        message = f"command {command!r} failed with {how}"
        if more:
            message += f" (and {more} more command{'s' if more > 1 else ''} failed)"
        if stderr_tail:
            message += "; last stderr lines:\n" + "\n".join(f"  {line}" for line in stderr_tail)
        super().__init__(host, message)
        self.command = command
        self.exit_status = exit_status
        self.signal = signal
        self.stderr_tail = tuple(stderr_tail)


class CommandTimeoutError(SshError, TimeoutError):
    """A command ran longer than its ``timeout``; it was stopped.

    Attributes:
        command: the command line as sent.
        timeout: the limit, in seconds.
    """

    def __init__(self, host: str, command: str, timeout: float) -> None:
        super().__init__(host, f"command {command!r} timed out after {timeout:g} s")
        self.command = command
        self.timeout = timeout
