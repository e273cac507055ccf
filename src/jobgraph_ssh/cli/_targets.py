"""Targets: which hosts a run goes to (``-t`` / ``-x``).

A target value is one of:

1. a file of host names (one or more per line, ``#`` starts a comment);
2. a directory: the names of the regular files right under it are host names (what
   ``--mark`` writes, so ``-t marks/ok`` reruns on the hosts that succeeded);
3. a string of host names separated by spaces or commas.

Which one is decided without guessing from what happens to lie around:

- a value that looks like a path (it contains ``/``, or starts with ``.`` or ``~``) is a
  file or directory: looked up as written, then (when relative) in the per-user targets
  directory (:func:`user_targets_dir`); if it names nothing, that is an error;
- a bare word (no ``/``, no space, no comma) is a file or directory of the per-user
  targets directory if one has that name; otherwise it is a host name. It is **never**
  read from the current directory: someone else's file ``web1`` in a shared folder must
  not redirect ``-t web1`` to other hosts. When the current directory holds a file of
  that name, the value is refused as ambiguous (write ``./web1`` for the file, ``web1,``
  for the host). A bare word that looks like a file name (``hosts.txt``) and names no
  file is taken as a host name with a note saying so;
- a value with spaces or commas is a string of host names.

Each host is ``[user@]host[:port]``; an IPv6 address takes brackets when a port
follows: ``root@[2001:db8::1]:2222``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Host",
    "TargetError",
    "exclude",
    "expand",
    "parse_host",
    "user_targets_dir",
]

#: The environment variable that names the targets directory (bare names of ``-t`` are
#: looked up there; see :func:`user_targets_dir`).
ENV_TARGETS_DIR = "JOBGRAPH_SSH_TARGETS"

_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_USER = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.$-]*")
# a bare word with one of these endings looks like a file name: taken as a host with a note
FILE_SUFFIXES = frozenset(
    ("txt", "list", "lst", "hosts", "csv", "conf", "cfg", "ini", "json", "yaml", "yml", "log")
)


class TargetError(ValueError):
    """A target cannot be used: a missing file, a host name that does not parse."""


@dataclass(frozen=True, slots=True)
class Host:
    """One host as written: ``[user@]host[:port]``.

    ``user`` and ``port`` are None when not written (the command-line defaults apply).

    Attributes:
        hostname: the host name or address (an IPv6 address without brackets).
        user: the remote user, or None.
        port: the SSH port, or None.
    """

    hostname: str
    user: str | None = None
    port: int | None = None

    @property
    def name(self) -> str:
        """The host as written and normalised, which names it in output, marks and the summary."""
        host = f"[{self.hostname}]" if ":" in self.hostname and self.port else self.hostname
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{user}{host}{port}"

    def matches(self, other: Host) -> bool:
        """Whether ``self`` (an exclusion) covers ``other``: same host name, and same
        user and port where ``self`` gives them.

        Args:
            other: a target host.

        Returns:
            True if the host names are equal (ignoring case) and so are the user and
            port that ``self`` gives.
        """
        return (
            self.hostname.lower() == other.hostname.lower()
            and (self.user is None or self.user == other.user)
            and (self.port is None or self.port == other.port)
        )


def parse_host(text: str, *, where: str = "") -> Host:
    """Parse ``[user@]host[:port]``.

    An IPv6 address takes brackets when a port follows (``root@[2001:db8::1]:2222``).
    Nothing is looked up.

    Args:
        text: the host as written.
        where: where it was read (a file and line...), for the error message.

    Returns:
        The host, ``user`` and ``port`` None when not written.

    Raises:
        TargetError: naming ``text`` (and ``where`` it came from, if given).
    """
    origin = f" (in {where})" if where else ""

    def bad(why: str) -> TargetError:
        return TargetError(f"cannot parse host {text!r}{origin}: {why}")

    rest = text
    user: str | None = None
    if "@" in rest:
        user, rest = rest.rsplit("@", 1)
        if not _USER.fullmatch(user):
            raise bad("bad user name")
    port_text: str | None = None
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            raise bad("missing ']'")
        hostname, after = rest[1:close], rest[close + 1 :]
        if after:
            if not after.startswith(":"):
                raise bad("only ':port' may follow ']'")
            port_text = after[1:]
        if not _is_address(hostname):
            raise bad("brackets hold an IP address")
    elif rest.count(":") > 1:  # a bare IPv6 address, no port
        hostname = rest
        if not _is_address(hostname, version=6):
            raise bad("bad IPv6 address")
    else:
        hostname, _, port_text = rest.partition(":")
        if not _:
            port_text = None
        if not _HOSTNAME.fullmatch(hostname):
            raise bad("bad host name")
    port: int | None = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise bad(f"port must be 1..65535, not {port_text!r}")
        port = int(port_text)
    return Host(hostname, user, port)


def _is_address(text: str, version: int | None = None) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return version is None or address.version == version


def user_targets_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The per-user targets directory: ``$JOBGRAPH_SSH_TARGETS``, else
    ``$XDG_CONFIG_HOME/jobgraph-ssh/targets`` (``~/.config/jobgraph-ssh/targets``).

    Args:
        environ: the environment to read; None for ``os.environ``.

    Returns:
        The directory's path (it need not exist).
    """
    env = os.environ if environ is None else environ
    if env.get(ENV_TARGETS_DIR):
        return Path(env[ENV_TARGETS_DIR]).expanduser()
    config = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(config, "jobgraph-ssh", "targets")


def _looks_like_path(value: str) -> bool:
    return "/" in value or value.startswith((".", "~"))


def locate_targets(value: str, environ: Mapping[str, str] | None) -> Path | None:
    """The targets file or directory ``value`` names, as apssh looks it up: a path that
    exists (the current directory first), else a name in the targets directory.

    Args:
        value: a path or a name.
        environ: where to read :data:`ENV_TARGETS_DIR` (None: ``os.environ``).

    Returns:
        The path found, or None: ``value`` is then a host name.
    """
    path = Path(value).expanduser()
    if path.exists():
        return path
    if not path.is_absolute():
        candidate = user_targets_dir(environ) / path
        if candidate.exists():
            return candidate
    return None


def _bare_word(
    value: str, environ: Mapping[str, str] | None, notes: list[str] | None
) -> Path | None:
    """A bare word: a file of the targets directory, else None (a host name).

    Never read from the current directory: a file there of that name is refused."""
    candidate = user_targets_dir(environ) / value
    if candidate.exists():
        return candidate
    if os.path.lexists(value):
        raise TargetError(
            f"{value!r} is a file in the current directory: write ./{value} to read it, "
            f"or '{value},' for the host of that name"
        )
    if notes is not None and value.rpartition(".")[2].lower() in FILE_SUFFIXES:
        notes.append(f"{value!r}: no such file; taken as a host name")
    return None


def _hosts_of_file(path: Path) -> list[Host]:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise TargetError(f"cannot read target file {str(path)!r}: {exc}") from exc
    return [
        parse_host(word, where=f"{path}:{number}")
        for number, line in enumerate(text.splitlines(), 1)
        for word in line.split("#", 1)[0].replace(",", " ").split()
    ]


def _hosts_of_directory(path: Path) -> list[Host]:
    try:
        names = sorted(
            entry.name
            for entry in os.scandir(path)
            if entry.is_file() and not entry.name.startswith(".")
        )
    except OSError as exc:
        raise TargetError(f"cannot read target directory {str(path)!r}: {exc}") from exc
    return [parse_host(name, where=f"directory {path}") for name in names]


def expand(
    value: str, *, environ: Mapping[str, str] | None = None, notes: list[str] | None = None
) -> list[Host]:
    """The hosts one ``-t`` (or ``-x``) value stands for, in order.

    Args:
        value: the value as given (see the module's docstring for how it is read).
        environ: the environment to read (the targets directory); None for ``os.environ``.
        notes: where to append a note for the user (a bare word that looks like a file
            name and names none is taken as a host name); None for no notes.

    Returns:
        The hosts, in the order written.

    Raises:
        TargetError: a path that names nothing, an unreadable file, a host that
            does not parse, a bare word that is also a file of the current directory;
            the message names the culprit.
    """
    if not value.strip():
        raise TargetError("empty target")
    words = value.replace(",", " ").split()
    if _looks_like_path(value):
        located = locate_targets(value, environ)
    elif len(words) == 1 and "," not in value:
        located = _bare_word(words[0], environ, notes)
    else:
        located = None
    if located is not None:
        if located.is_dir():
            return _hosts_of_directory(located)
        return _hosts_of_file(located)
    if _looks_like_path(value) and " " not in value.strip():
        raise TargetError(
            f"no such target file or directory: {value!r} "
            f"(also looked in {user_targets_dir(environ)})"
        )
    return [parse_host(word, where=f"target {value!r}") for word in words]


def exclude(hosts: Iterable[Host], excluded: Iterable[Host]) -> list[Host]:
    """``hosts`` without repeats and without those an exclusion matches, in order."""
    drop = list(excluded)
    kept: dict[Host, None] = {}
    for host in hosts:
        if host not in kept and not any(rule.matches(host) for rule in drop):
            kept[host] = None
    return list(kept)
