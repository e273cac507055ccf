"""apssh's key helpers: keys from files and from the SSH agent, as asyncssh key objects."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any

from jobgraph_ssh.lowlevel import KeyImportFailed, agent_keys, read_private_key

__all__ = ["import_private_key", "load_agent_keys", "load_private_keys"]

DEFAULT_KEY_FILES = ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519")


def import_private_key(filename: str | os.PathLike[str]) -> Any:
    """The private key in ``filename`` (asking for its passphrase on the terminal if it
    is encrypted), or None if it cannot be read."""
    path = os.fspath(filename)
    try:
        return read_private_key(path)
    except KeyImportFailed as exc:
        if not exc.encrypted:
            return None
    except OSError:
        return None
    try:
        passphrase = getpass.getpass(f"Enter passphrase for key {path}: ")
        return read_private_key(path, passphrase)
    except (KeyImportFailed, OSError, EOFError):
        return None


def load_agent_keys(agent_path: str | None = None) -> list[Any]:
    """The keys the SSH agent holds (``agent_path``: its socket, default
    ``$SSH_AUTH_SOCK``); an empty list if there is no agent."""
    path = agent_path or os.environ.get("SSH_AUTH_SOCK")
    if not path:
        return []

    async def fetch() -> list[Any]:
        return await agent_keys(path)

    from jobgraph.compat import run_sync

    return run_sync(fetch)


def load_private_keys(command_line_keys: Any = None, verbose: bool = False) -> list[Any]:
    """Keys by apssh's policy: the files given, if any; else the agent's keys; else
    the default files ``~/.ssh/id_rsa``, ``id_dsa`` (and ``id_ecdsa``, ``id_ed25519``)
    that can be read."""
    if command_line_keys:
        files = [os.fspath(name) for name in command_line_keys]
    else:
        keys = load_agent_keys()
        if keys:
            if verbose:
                print(f"apssh: {len(keys)} keys from the SSH agent")
            return keys
        home = Path(os.path.expanduser("~")) / ".ssh"
        files = [str(home / name) for name in DEFAULT_KEY_FILES if (home / name).exists()]
    loaded = []
    for name in files:
        key = import_private_key(name)
        if verbose:
            print(f"apssh: key file {name}: {'loaded' if key is not None else 'unusable'}")
        if key is not None:
            loaded.append(key)
    return loaded
