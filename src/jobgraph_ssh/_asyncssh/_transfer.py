"""The asyncssh side of :class:`~jobgraph_ssh.services.PushFileService`: atomic
uploads, short remote commands. Runs on the node's asyncio loop (reached through
:func:`jobgraph_ssh.lowlevel.call`); what is plain Python (temporary names, reading a
checksum) stays in :mod:`jobgraph_ssh.services`."""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import asyncssh

from ._connection import Link, TransferFailed, link_for, quiet_sftp_stragglers

if TYPE_CHECKING:
    from jobgraph_ssh._node import SshNode

__all__ = ["put_atomic", "rename_into_place", "run_line"]

CLEANUP_TIMEOUT = 5.0


async def run_line(node: SshNode, line: str) -> tuple[int, str, str]:
    """Run a short command on the node and wait for its end (on the node's loop: await
    it through :func:`jobgraph_ssh.lowlevel.call`).

    Args:
        node: the node.
        line: the shell command line (stdin is empty).

    Returns:
        (exit status, stdout, stderr); the status is -1 if the command had none
        (killed by a signal).
    """
    link = link_for(node)
    conn = await link.connection()
    async with link.channels:
        result = await conn.run(line, stdin=asyncssh.DEVNULL)
    status = result.exit_status if result.exit_status is not None else -1
    return status, str(result.stdout or ""), str(result.stderr or "")


async def put_atomic(node: SshNode, local: str, path: str, mode: int, temporary: str) -> None:
    """Upload ``local`` to ``path`` under a temporary name, set its mode, rename it (on
    the node's loop: await it through :func:`jobgraph_ssh.lowlevel.call`).

    If the upload fails or is cancelled, the temporary file is removed (bounded) and
    ``path`` is left as it was.

    Args:
        node: the node.
        local: the local file.
        path: where it goes on the node (its directories are made if needed).
        mode: its permission bits there; until it is complete, the file is readable by
            its owner only.
        temporary: the remote name it is written under first (in ``path``'s directory,
            so that the rename is atomic).

    Raises:
        TransferFailed: an SFTP or OS error; the message says what failed and why.
    """
    async with _sftp_removing_on_failure(node, temporary, f"upload to {node.name}:{path}") as sftp:
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
async def _sftp_removing_on_failure(
    node: SshNode, temporary: str, what: str
) -> AsyncIterator[asyncssh.SFTPClient]:
    """An SFTP client on the node's connection, in one of its channels; ``temporary``
    is removed if the block fails (see :func:`_removed_on_failure`)."""
    link = link_for(node)
    conn = await link.connection()
    async with (
        link.channels,
        conn.start_sftp_client() as sftp,
        _removed_on_failure(link, conn, temporary, what),
    ):
        yield sftp


@contextlib.asynccontextmanager
async def _removed_on_failure(
    link: Link, conn: asyncssh.SSHClientConnection, temporary: str, what: str
) -> AsyncIterator[None]:
    """Remove ``temporary`` if the block fails or is cancelled (bounded); an SFTP or OS
    error then becomes a :class:`TransferFailed` saying that ``what`` failed."""
    try:
        yield
    except BaseException as exc:
        quiet_sftp_stragglers()
        await _clean_up(link, conn, temporary)
        if isinstance(exc, asyncssh.SFTPError | OSError):
            reason = getattr(exc, "reason", None) or str(exc)
            raise TransferFailed(f"{what} failed: {reason}") from exc
        raise


async def _clean_up(link: Link, conn: asyncssh.SSHClientConnection, path: str) -> None:
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
    remove it if that fails (on the node's loop: await it through
    :func:`jobgraph_ssh.lowlevel.call`).

    Args:
        node: the node.
        temporary: the file as it was put there.
        path: its final name.
        mode: its permission bits.

    Raises:
        TransferFailed: an SFTP or OS error; the message says what failed and why.
    """
    async with _sftp_removing_on_failure(
        node, temporary, f"rename into {node.name}:{path}"
    ) as sftp:
        await sftp.chmod(temporary, mode)
        await _rename(sftp, temporary, path)
