"""PushFileService: push a file to many hosts, once per host and content."""

from __future__ import annotations

import hashlib
import os
import posixpath
import secrets
import shlex
import stat
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread

import jobgraph as jg
from jobgraph import services as sv
from jobgraph_ssh import lowlevel
from jobgraph_ssh.lowlevel import SshNode

from ._remote import host_of

__all__ = ["PushFileService", "PushStats", "push_to_all"]

HASH_CHUNK = 1 << 20


@dataclass
class PushStats:
    """What a :class:`PushFileService` did (its ``stats``), counted since it was made.

    Attributes:
        skipped: pushes that found the host's copy up to date.
        uploaded: files uploaded from here.
        relayed: files a gateway copied to the node behind it.
        mode_fixed: files whose content was right and only the mode was changed.
        bytes_sent: bytes uploaded from here.
        hashed: local file versions hashed here.
    """

    skipped: int = 0
    uploaded: int = 0
    relayed: int = 0
    mode_fixed: int = 0
    bytes_sent: int = 0
    hashed: int = 0


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class PushFileService(sv.DeduplicatingService):
    """Push local files to the hosts of known nodes, each host and content once.

    For each ``push(host, path, remote_path)``:

    - the local file is hashed (SHA-256) once per version (its size and mtime);
    - the host's copy is checked remotely (``sha256sum``, ``stat``): the same content
      and mode is skipped; the same content with another mode gets a ``chmod``;
    - otherwise the file is uploaded under a temporary name next to ``remote_path``,
      given the local file's mode, and renamed over it, so the file at
      ``remote_path`` is never half written; a failed or cancelled upload removes
      its temporary file;
    - with ``relay`` set, a node behind a gateway gets the file from the gateway:
      the file is pushed (once) to the gateway's ``relay_dir``, then ``relay`` (a
      command line run on the gateway, with ``{source}``, ``{target}``,
      ``{hostname}``, ``{port}``, ``{user}`` filled in) copies it to the node under a
      temporary name, which is renamed into place from here.

    Concurrent equal calls (same host, path and remote path, same local version)
    run once: it is a :class:`~jobgraph.services.DeduplicatingService`.

    Args:
        nodes: the SshNodes callers may push to, named by :func:`host_of`.
        relay: the relay command line (see above), or None to upload every file
            from here.
        relay_dir: where gateways keep the files they relay, named by their hash
            (relative: from the gateway user's home); they are not removed.
        name: the service's name in the pool (default ``"PushFileService"``).

    ``push`` is allowed to callers in this process; subclass and re-expose it to
    open it to others. Results are remembered per file version: pushing the same
    file again does not look at the host again (:meth:`forget` drops them).

    Raises:
        jobgraph.services.ServiceDefinitionError: ``nodes`` holds something else than
            SshNodes.
    """

    def __init__(
        self,
        nodes: Iterable[SshNode],
        *,
        relay: str | None = None,
        relay_dir: str = ".jobgraph-relay",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.nodes: dict[str, SshNode] = {}
        for node in nodes:
            if not isinstance(node, SshNode):
                raise sv.ServiceDefinitionError(f"PushFileService takes SshNodes, not {node!r}")
            self.nodes[host_of(node)] = node
        self.relay = relay
        self.relay_dir = relay_dir
        self.stats = PushStats()
        self._digests: dict[tuple[str, int, int], str] = {}
        self._hashing: dict[str, anyio.Lock] = {}
        self._gateway_locks: dict[tuple[str, str], anyio.Lock] = {}

    def add_node(self, node: SshNode) -> None:
        """Let callers push to this node too.

        Args:
            node: the SshNode, known by :func:`host_of` (it replaces a node known by
                the same name).
        """
        self.nodes[host_of(node)] = node

    def dedup_key(self, method: str, kwargs: Mapping[str, Any]) -> Hashable:
        path = kwargs.get("path")
        version: tuple[int, int] | None = None
        if isinstance(path, str):
            try:
                st = os.stat(path)
                version = (st.st_mtime_ns, st.st_size)
            except OSError:
                version = None
        return (method, tuple(sorted(kwargs.items())), version)

    async def digest(self, path: str) -> tuple[str, int]:
        """(SHA-256 hex, permission bits) of a local file, hashed once per version.

        A version is the file's size and modification time; hashing runs in a worker
        thread, once at a time per path.

        Args:
            path: the local file.

        Returns:
            The hex digest and the permission bits.

        Raises:
            FileNotFoundError: there is no such file (``os.stat`` failed).
            IsADirectoryError: it is not a regular file.
            OSError: it cannot be read.

        Cancellation:
            A hash under way is not interrupted: it finishes in its thread (and is
            remembered) before the cancellation takes effect.
        """
        try:
            st = os.stat(path)
        except OSError as exc:
            raise FileNotFoundError(f"cannot push {path}: {exc.strerror or exc}") from exc
        if not stat.S_ISREG(st.st_mode):
            raise IsADirectoryError(f"cannot push {path}: not a regular file")
        key = (path, st.st_mtime_ns, st.st_size)
        lock = self._hashing.setdefault(path, anyio.Lock())
        async with lock:
            digest = self._digests.get(key)
            if digest is None:
                digest = await anyio.to_thread.run_sync(_sha256, path)
                self._digests[key] = digest
                self.stats.hashed += 1
        return digest, stat.S_IMODE(st.st_mode)

    def _node(self, host: str) -> SshNode:
        node = self.nodes.get(host)
        if node is None:
            known = ", ".join(sorted(map(repr, self.nodes))) or "none"
            raise LookupError(f"no node {host!r} to push to (known: {known})")
        return node

    @sv.expose(sv.AllowParents())
    @sv.arg_spec(host=str, path=str, remote_path=str)
    async def push(self, host: str, path: str, remote_path: str) -> str:
        """Make ``remote_path`` on ``host`` a copy of the local ``path`` (content and mode).

        Args:
            host: the node, as :func:`host_of` names it.
            path: the local file (a regular file).
            remote_path: where it goes on the host (relative: from the remote user's
                home); its directory is made if needed.

        Returns:
            What was done, ``"skipped"`` (up to date), ``"mode"`` (only chmod),
            ``"uploaded"`` or ``"relayed"``.

        Raises:
            LookupError: no node is known by ``host``.
            FileNotFoundError: the local file cannot be read.
            IsADirectoryError: the local path is not a regular file.
            OSError: the upload, the relay command or the chmod failed (the message
                names the host and the path).
            ConnectError: the host or its gateway cannot be reached (an SshError).

        Cancellation:
            An upload under way stops; its temporary file is removed (in the background, at
            most 5 s), and ``remote_path`` is left as it was. Callers sharing the
            call go on: one of them runs it again.
        """
        node = self._node(host)
        digest, mode = await self.digest(path)
        return await self._push(node, path, remote_path, digest, mode)

    async def _push(
        self, node: SshNode, path: str, remote_path: str, digest: str, mode: int
    ) -> str:
        there = await _remote_digest(node, remote_path)
        if there is not None and there[0] == digest:
            if there[1] == mode:
                self.stats.skipped += 1
                return "skipped"
            status, _, err = await lowlevel.call(
                lowlevel.run_line, node, f"chmod {mode:o} -- {_quote(remote_path)}"
            )
            if status != 0:
                raise OSError(f"chmod of {node.name}:{remote_path} failed: {err.strip()}")
            self.stats.mode_fixed += 1
            return "mode"
        gateway = node.gateway
        if self.relay is not None and gateway is not None:
            await self._relay(
                gateway, node, path=path, remote_path=remote_path, digest=digest, mode=mode
            )
            self.stats.relayed += 1
            return "relayed"
        await self._upload(node, path, remote_path, mode)
        return "uploaded"

    async def _upload(self, node: SshNode, path: str, remote_path: str, mode: int) -> None:
        try:
            await lowlevel.call(
                lowlevel.put_atomic, node, path, remote_path, mode, _temporary_name(remote_path)
            )
        except lowlevel.TransferFailed as exc:
            raise OSError(str(exc)) from None
        self.stats.uploaded += 1
        self.stats.bytes_sent += os.stat(path).st_size

    async def _relay(
        self,
        gateway: SshNode,
        node: SshNode,
        *,
        path: str,
        remote_path: str,
        digest: str,
        mode: int,
    ) -> None:
        assert self.relay is not None
        source = posixpath.join(self.relay_dir, digest)
        lock = self._gateway_locks.setdefault((gateway.name, digest), anyio.Lock())
        async with lock:  # the gateway gets the file once, even for many nodes at once
            await self._push(gateway, path, source, digest, mode)
        temporary = _temporary_name(remote_path)
        line = self.relay.format(
            source=_quote(source),
            target=_quote(temporary),
            hostname=_quote(node.hostname),
            port=node.port,
            user=_quote(node.username or ""),
        )
        status, _, err = await lowlevel.call(lowlevel.run_line, gateway, line)
        if status != 0:
            await lowlevel.call(lowlevel.run_line, node, f"rm -f -- {_quote(temporary)}")
            raise OSError(
                f"relay of {path} from {gateway.name} to {node.name} failed "
                f"(exit {status}): {err.strip()[-500:]}"
            )
        try:
            await lowlevel.call(lowlevel.rename_into_place, node, temporary, remote_path, mode)
        except lowlevel.TransferFailed as exc:
            raise OSError(str(exc)) from None


def _quote(text: str) -> str:
    return shlex.quote(text)


def _temporary_name(path: str) -> str:
    """A new name beside ``path``, for a file that is renamed to ``path`` once complete."""
    directory, name = posixpath.split(path)
    return posixpath.join(directory, f".{name}.jobgraph-{secrets.token_hex(6)}.tmp")


async def _remote_digest(node: SshNode, path: str) -> tuple[str, int] | None:
    """(sha256 hex, permission bits) of a remote file, None if it is not there."""
    quoted = _quote(path)
    status, out, _ = await lowlevel.call(
        lowlevel.run_line, node, f"test -f {quoted} && sha256sum < {quoted} && stat -c %a {quoted}"
    )
    lines = out.split()
    if status != 0 or len(lines) < 3:
        return None
    try:
        return lines[0], int(lines[-1], 8)
    except ValueError:
        return None


async def push_to_all(
    pool: sv.ServicePool,
    path: str,
    remote_path: str,
    hosts: Iterable[str | SshNode],
    *,
    service: str = "PushFileService",
) -> dict[str, str | BaseException]:
    """Push one file to many hosts at once through the pool's PushFileService.

    Every host is tried, whatever happens on the others: a failure is reported, not
    raised.

    Args:
        pool: a running :class:`~jobgraph.services.ServicePool` holding the service.
        path: the local file.
        remote_path: where it goes on each host.
        hosts: host names (as :func:`host_of` says) or SshNodes (at least one).
        service: the service's name in the pool.

    Returns:
        ``{host: action}`` (``"skipped"``, ``"mode"``, ``"uploaded"``, ``"relayed"``),
        or the exception the push raised for that host.

    Raises:
        jobgraph.InvalidOptionError: no host given.

    Cancellation:
        Every push under way is cancelled (see :meth:`PushFileService.push`) and
        the cancellation propagates; no result is returned.
    """
    names = [host_of(h) if isinstance(h, SshNode) else h for h in hosts]
    if not names:
        raise jg.InvalidOptionError("push_to_all: no host given")
    outcome: dict[str, str | BaseException] = {}

    async def one(host: str) -> None:
        try:
            outcome[host] = await pool.call(
                service, "push", {"host": host, "path": path, "remote_path": remote_path}
            )
        except Exception as exc:  # noqa: BLE001 - reported per host
            outcome[host] = exc

    async with anyio.create_task_group() as group:
        for host in names:
            group.start_soon(one, host)
    return outcome
