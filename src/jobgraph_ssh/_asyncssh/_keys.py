"""Private keys and the SSH agent, for the CLI's checks, the apssh drop-in's key helpers
and the sandbox (reached through :mod:`jobgraph_ssh.lowlevel`)."""

from __future__ import annotations

import os
from typing import Any

import asyncssh

__all__ = [
    "KeyImportFailed",
    "agent_keys",
    "import_private_key",
    "new_private_key",
    "read_private_key",
]


class KeyImportFailed(ValueError):  # noqa: N818 - says what failed, as TransferFailed
    """A private key could not be read from its text: not a key, or encrypted.

    Attributes:
        encrypted: True if the key needs a passphrase (none given, or a wrong one).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.encrypted = "assphrase" in message


def import_private_key(data: bytes | str, passphrase: str | None = None) -> Any:
    """The private key written in ``data`` (OpenSSH, PEM or PKCS#8 text).

    Args:
        data: the key file's contents.
        passphrase: the passphrase of an encrypted key, or None.

    Returns:
        The key, as an asyncssh ``SSHKey``.

    Raises:
        KeyImportFailed: ``data`` is not a private key, or is encrypted with another
            passphrase (or none was given); the message is asyncssh's.
    """
    try:
        return asyncssh.import_private_key(data, passphrase)
    except asyncssh.KeyImportError as exc:
        raise KeyImportFailed(str(exc)) from exc


def read_private_key(path: str | os.PathLike[str], passphrase: str | None = None) -> Any:
    """The private key in the file ``path``.

    Args:
        path: the key file.
        passphrase: the passphrase of an encrypted key, or None.

    Returns:
        The key, as an asyncssh ``SSHKey``.

    Raises:
        KeyImportFailed: the file holds no private key, or is encrypted with another
            passphrase (or none was given).
        OSError: the file cannot be read.
    """
    try:
        return asyncssh.read_private_key(os.fspath(path), passphrase)
    except asyncssh.KeyImportError as exc:
        raise KeyImportFailed(str(exc)) from exc


async def agent_keys(path: str) -> list[Any]:
    """The keys the SSH agent listening on ``path`` holds (an asyncio coroutine: await it
    through :func:`jobgraph_ssh.lowlevel.call` under trio).

    Args:
        path: the agent's socket.

    Returns:
        Its keys, as asyncssh key objects; an empty list if the agent cannot be reached.
    """
    try:
        async with asyncssh.connect_agent(path) as agent:
            return list(await agent.get_keys())
    except (OSError, asyncssh.Error, ValueError):
        return []


def new_private_key() -> tuple[str, str]:
    """A new ed25519 key pair: (private key, public key), in OpenSSH format."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    return (
        key.export_private_key("openssh").decode(),
        key.export_public_key("openssh").decode(),
    )
