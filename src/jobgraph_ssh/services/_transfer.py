"""The asyncssh side of :class:`~jobgraph_ssh.services.PushFileService`: remote
checksums, atomic uploads, short remote commands. Runs on the node's asyncio loop
(reached through :func:`jobgraph_ssh.lowlevel.call`)."""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import secrets
import shlex
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import asyncssh

from jobgraph_ssh import lowlevel

if TYPE_CHECKING:
    from jobgraph_ssh.lowlevel import SshNode

__all__ = ["TransferError", "put_atomic", "remote_digest", "rename_into_place", "run"]

CLEANUP_TIMEOUT = 5.0


class TransferError(Exception):
    """A remote step of a push failed; the message says which and why."""


async def run(node: SshNode, line: str) -> tuple[int, str, str]:
    """Run a short command on the node: (exit status, stdout, stderr)."""
    link = lowlevel.link_for(node)
    conn = await link.connection()
    async with link.channels:
        result = await conn.run(line, stdin=asyncssh.DEVNULL)
    status = result.exit_status if result.exit_status is not None else -1
    return status, str(result.stdout or ""), str(result.stderr or "")


async def remote_digest(node: SshNode, path: str) -> tuple[str, int] | None:
    """(sha256 hex, permission bits) of a remote file, None if it is not there."""
    quoted = shlex.quote(path)
    status, out, _ = await run(
        node, f"test -f {quoted} && sha256sum < {quoted} && stat -c %a {quoted}"
    )
    lines = out.split()
    if status != 0 or len(lines) < 3:
        return None
    try:
        return lines[0], int(lines[-1], 8)
    except ValueError:
        return None


def temporary_name(path: str) -> str:
    directory, name = posixpath.split(path)
    return posixpath.join(directory, f".{name}.jobgraph-{secrets.token_hex(6)}.tmp")


async def put_atomic(node: SshNode, local: str, path: str, mode: int) -> None:
    """Upload ``local`` to ``path`` under a temporary name, set its mode, rename it.

    If the upload fails or is cancelled, the temporary file is removed (bounded) and
    ``path`` is left as it was.
    """
    link = lowlevel.link_for(node)
    conn = await link.connection()
    temporary = temporary_name(path)
    async with (
        link.channels,
        conn.start_sftp_client() as sftp,
        _removed_on_failure(link, conn, temporary, f"upload to {node.name}:{path}"),
    ):
        directory = posixpath.dirname(path)
        if directory:
            await sftp.makedirs(directory, exist_ok=True)
        await _upload(sftp, local, temporary, mode)
        await sftp.chmod(temporary, mode)
        await _rename(sftp, temporary, path)


UPLOAD_CHUNK = 1 << 22  # bytes written at once (asyncssh splits it into parallel requests)


async def _upload(sftp: asyncssh.SFTPClient, local: str, temporary: str, mode: int) -> None:
    """Copy ``local`` to a new remote file, made owner-only from the start (the bits
    of ``mode`` for others come with the ``chmod`` once it is complete): a secret is
    never readable by others, even for a moment."""
    attrs = asyncssh.SFTPAttrs(permissions=(mode & 0o700) | 0o600)
    with open(local, "rb") as source:  # noqa: ASYNC230 - a local file, read by chunks
        async with sftp.open(temporary, "xb", attrs) as target:
            while data := source.read(UPLOAD_CHUNK):
                await target.write(data)


async def _rename(sftp: asyncssh.SFTPClient, source: str, target: str) -> None:
    try:
        await sftp.posix_rename(source, target)
    except asyncssh.SFTPOpUnsupported:
        with contextlib.suppress(asyncssh.SFTPError):
            await sftp.remove(target)
        await sftp.rename(source, target)


@contextlib.asynccontextmanager
async def _removed_on_failure(
    link: lowlevel.Link, conn: asyncssh.SSHClientConnection, temporary: str, what: str
) -> AsyncIterator[None]:
    """Remove ``temporary`` if the block fails or is cancelled (bounded); an SFTP or OS
    error then becomes a :class:`TransferError` saying that ``what`` failed."""
    try:
        yield
    except BaseException as exc:
        lowlevel.quiet_sftp_stragglers()
        await _clean_up(link, conn, temporary)
        if isinstance(exc, asyncssh.SFTPError | OSError):
            reason = getattr(exc, "reason", None) or str(exc)
            raise TransferError(f"{what} failed: {reason}") from exc
        raise


async def _clean_up(link: lowlevel.Link, conn: asyncssh.SSHClientConnection, path: str) -> None:
    """Remove a temporary file, in a task of its own that a repeated cancellation
    does not stop (closing the link waits for it, bounded)."""
    task = asyncio.get_running_loop().create_task(_remove_quietly(conn, path))
    link.cleanups.add(task)
    task.add_done_callback(link.cleanups.discard)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.shield(task)


async def _remove_quietly(conn: asyncssh.SSHClientConnection, path: str) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLEANUP_TIMEOUT), conn.start_sftp_client() as sftp:
            await sftp.remove(path)


async def rename_into_place(node: SshNode, temporary: str, path: str, mode: int) -> None:
    """Set the mode of a file put at ``temporary`` (by a relay) and rename it to ``path``;
    remove it if that fails."""
    link = lowlevel.link_for(node)
    conn = await link.connection()
    async with (
        link.channels,
        conn.start_sftp_client() as sftp,
        _removed_on_failure(link, conn, temporary, f"rename into {node.name}:{path}"),
    ):
        await sftp.chmod(temporary, mode)
        await _rename(sftp, temporary, path)
