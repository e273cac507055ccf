"""apssh's module sshproxy: :class:`SshProxy`, a remote host as a native node, and the
host-key policy of the compat nodes."""

from __future__ import annotations

import getpass
import os
import posixpath
from collections.abc import Iterable
from typing import Any

import jobgraph as jg
from jobgraph_ssh import ConnectError, Shell, lowlevel
from jobgraph_ssh import SshNode as _NativeSshNode

from ._errors import as_apssh_error
from .formatters import EXTENDED_DATA_STDERR, HostFormatter, _FormatterSlot

__all__ = ["SshProxy", "host_key_policy", "set_host_key_policy"]

_policy = {"default": "ignore"}


def set_host_key_policy(policy: str) -> str:
    """Set how compat nodes built *afterwards* without ``known_hosts`` check host keys;
    return the previous policy.

    The default, ``"ignore"``, is apssh's behaviour: host keys are not checked.
    ``set_host_key_policy("strict")`` switches to the native, secure default (the
    key must be listed in ``~/.ssh/known_hosts``); ``"accept-new"`` records new keys.
    A node given ``known_hosts=`` always checks against that file.
    """
    from jobgraph_ssh.lowlevel import HOST_KEY_POLICIES

    if policy not in HOST_KEY_POLICIES:
        raise jg.InvalidOptionError(
            f"set_host_key_policy: policy must be one of {HOST_KEY_POLICIES}, not {policy!r}"
        )
    previous = _policy["default"]
    _policy["default"] = policy
    return previous


def host_key_policy() -> str:
    """The policy of compat nodes built without ``known_hosts`` (see above)."""
    return _policy["default"]


def _apply_verbose(formatter: Any, verbose: bool | None) -> None:
    if verbose is not None and hasattr(formatter, "verbose"):
        formatter.verbose = verbose


class SshProxy(_NativeSshNode):
    """A remote host, as apssh's ``SshProxy``: a native :class:`jobgraph_ssh.SshNode`
    (one lazy, shared connection) with apssh's arguments and helper coroutines.

    ``keys`` takes file names or key objects (from :func:`load_private_keys`);
    ``timeout`` is the connect timeout; ``formatter`` an apssh formatter (default
    :class:`HostFormatter`, and, as in apssh, a warning on stdout that none was given);
    ``verbose``, if not None, is set on it. Host keys are
    not checked unless ``known_hosts`` is given (see :func:`set_host_key_policy`).
    ``debug`` prints traces of the connection and of each command (as apssh's, with
    the data received shown line by line rather than by network chunk) on stderr.
    Scripts of ``RunScript`` and ``RunString`` are copied under ``~/.apssh-remote``.
    """

    formatter = _FormatterSlot()
    _compat_remote = True  # its formatter learns the widths of its names
    staging_root = ".apssh-remote"
    # as in apssh, the connection outlives the event loop of a synchronous run() until
    # closed (close_ssh_in_scheduler, job.close()) or the process ends: it lives on
    # jobgraph_ssh's background asyncio loop
    background_loop = True

    def __init__(
        self,
        hostname: str,
        *,
        username: str | None = None,
        gateway: SshProxy | None = None,
        keys: Any = None,
        known_hosts: Any = None,
        port: int = 22,
        formatter: Any = None,
        verbose: bool | None = None,
        debug: bool = False,
        timeout: float = 30,
    ) -> None:
        self.debug = bool(debug)
        policy = "strict" if known_hosts is not None else _policy["default"]
        super().__init__(
            hostname,
            username=username if username is not None else getpass.getuser(),
            port=int(port),
            keys=_key_list(keys),
            gateway=gateway,
            connect_timeout=timeout,
            known_hosts=known_hosts,
            host_key_policy=policy,
        )
        if formatter is None:  # as apssh tells, on stdout
            print(f"WARNING: no formatter specified for {self}")
        self.formatter = formatter if formatter is not None else HostFormatter()
        _apply_verbose(self.formatter.target, verbose)
        self.verbose = verbose

    def __repr__(self) -> str:
        via = f" via {self.gateway.name}" if self.gateway is not None else ""
        return f"<{type(self).__name__} {self.name}{via}>"

    def __str__(self) -> str:
        """``user@host``, after ``gwuser@gateway->`` for a node behind a gateway (as
        apssh, which names nodes so in its messages)."""
        gateway = self.gateway
        route = f"{gateway._user_host()}->" if isinstance(gateway, SshProxy) else ""
        return route + self._user_host()

    def _user_host(self) -> str:
        return f"{self.username or getpass.getuser()}@{self.hostname}"

    def debug_line(self, text: str) -> None:
        """With ``debug``: a trace line about this node, on stderr through its formatter
        (``text ((from:<SshNode user@host [1 keys] <-SSH->>))``, as apssh's)."""
        if not self.debug:
            return
        keys = len(self.keys or ())
        keyed = f"[{keys} keys]" if keys else "[no key]"
        links = "<-SSH->" if self.is_connected() else ""
        if links and self.__dict__.get("_compat_sftp_for") is not None:
            links += "<-SFTP->"
        shown = f"<{type(self).__name__} {self} {keyed} {links}>"
        line = f"{text.removesuffix(chr(10))} ((from:{shown}))\n"
        self.formatter.target.line(line, EXTENDED_DATA_STDERR, self.hostname)

    # -- apssh's coroutines ------------------------------------------------------------
    async def connect_lazy(self) -> Any:
        """Connect if not connected; return the (asyncssh) connection.

        A failure raises what apssh raised (see ``_errors``): also a
        :class:`jobgraph_ssh.ConnectError`."""
        try:
            return await lowlevel.call(_connection_of, self)
        except ConnectError as exc:
            raise self._failed(exc) from None

    async def sftp_connect_lazy(self) -> Any:
        """Connect if needed; SFTP sessions are opened per transfer, so this returns
        the connection (whose ``start_sftp_client()`` gives one)."""
        return await self.connect_lazy()

    def is_sftp_connected(self) -> bool:
        """Whether file transfers can start at once (the connection is up)."""
        return self.is_connected()

    async def run(self, command: str, **x11_kwds: Any) -> int | None:
        """Run a shell command line, its output to the formatter; its exit status.
        ``x11_forwarding=True`` asks for X11 forwarding."""
        line = Shell(str(command))
        line.x11 = bool(x11_kwds.get("x11_forwarding"))
        try:
            result = await line.execute(self, self.formatter, 0)
        except ConnectError as exc:
            raise self._failed(exc) from None
        return result.exit_status

    def _failed(self, exc: ConnectError) -> BaseException:
        """The exception apssh raised for ``exc``, its formatter told as apssh's is."""
        raised = as_apssh_error(exc)
        if raised is not exc and exc.__cause__ is not None:
            self.formatter.failed_after_connecting(exc.__cause__)
        return raised

    async def put_file_s(self, localpaths: Any, remotepath: str, **kwds: Any) -> bool:
        """Copy local files into a remote directory (made if needed); True, or raise."""
        preserve = bool(kwds.get("preserve", False))
        await _transfer(self.push, _strs(localpaths), str(remotepath), preserve)
        return True

    async def get_file_s(self, remotepaths: Any, localpath: str, **kwds: Any) -> bool:
        """Copy remote files into a local directory; True, or raise."""
        preserve = bool(kwds.get("preserve", False))
        os.makedirs(localpath, exist_ok=True)
        await _transfer(self.pull, _strs(remotepaths), os.fspath(localpath), preserve)
        return True

    async def put_string_script(self, script_body: str, remotefile: str, **kwds: Any) -> bool:
        """Write a string into a remote file made executable (mode 755); True, or raise."""
        del kwds
        directory, name = posixpath.split(str(remotefile))
        try:
            await self.stage(directory or ".", [], {name: script_body.encode()}, name)
        except lowlevel.TransferFailed as exc:
            raise OSError(f"{self.name}: {exc}") from exc
        return True

    async def mkdir(self, remotedir: str) -> bool:
        """Make a remote directory (and its parents) if needed; True."""
        await lowlevel.call(_makedirs, self, str(remotedir))
        return True


async def _connection_of(node: _NativeSshNode) -> Any:
    return await lowlevel.link_for(node).connection()


async def _makedirs(node: _NativeSshNode, remotedir: str) -> None:
    async def action(sftp: Any) -> None:
        await sftp.makedirs(remotedir, exist_ok=True)

    try:
        await lowlevel.sftp_call(node, f"mkdir {remotedir}", action)
    except lowlevel.TransferFailed as exc:
        raise OSError(f"{node.name}: {exc}") from exc


async def _transfer(method: Any, sources: list[str], target: str, preserve: bool) -> None:
    try:
        await method(sources, target, preserve=preserve)
    except lowlevel.TransferFailed as exc:
        raise OSError(str(exc)) from exc


def _strs(paths: Any) -> list[str]:
    if isinstance(paths, str | os.PathLike):
        return [os.fspath(paths)]
    return [os.fspath(path) for path in paths]


def _key_list(keys: Any) -> Any:
    if keys is None:
        return None
    if isinstance(keys, str | os.PathLike):
        return [keys]
    listed = list(keys) if isinstance(keys, Iterable) else [keys]
    return listed or None
