"""Targets: which hosts a run goes to (``-t`` / ``-x``).

A target value is, in this order of preference:

1. a file of host names (one or more per line, ``#`` starts a comment);
2. a directory: the names of the regular files right under it are host names (what
   ``--mark`` writes, so ``-t marks/ok`` reruns on the hosts that succeeded);
3. otherwise a string of host names separated by spaces or commas.

A relative file or directory name is looked up in the current directory, then in the
per-user targets directory (:func:`user_targets_dir`). A value that looks like a path
(it contains ``/``, or starts with ``.`` or ``~``) and names nothing is an error rather
than a host name.

Each host is ``[user@]host[:port]``; an IPv6 address takes brackets when a port
follows: ``root@[2001:db8::1]:2222``.
"""

from __future__ import annotations

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

ENV_TARGETS_DIR = "JOBGRAPH_SSH_TARGETS"

_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_USER = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.$-]*")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?")


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
        if not _IPV6.fullmatch(hostname):
            raise bad("bad address in brackets")
    elif rest.count(":") > 1:  # a bare IPv6 address, no port
        hostname = rest
        if not _IPV6.fullmatch(hostname):
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


def _locate(value: str, environ: Mapping[str, str] | None) -> Path | None:
    path = Path(value).expanduser()
    if path.exists():
        return path
    if not path.is_absolute():
        candidate = user_targets_dir(environ) / path
        if candidate.exists():
            return candidate
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


def expand(value: str, *, environ: Mapping[str, str] | None = None) -> list[Host]:
    """The hosts one ``-t`` (or ``-x``) value stands for, in order.

    Raises:
        TargetError: a path that names nothing, an unreadable file, a host that
            does not parse; the message names the culprit.
    """
    if not value.strip():
        raise TargetError("empty target")
    located = _locate(value, environ)
    if located is not None:
        if located.is_dir():
            return _hosts_of_directory(located)
        return _hosts_of_file(located)
    if _looks_like_path(value) and " " not in value.strip():
        raise TargetError(
            f"no such target file or directory: {value!r} "
            f"(also looked in {user_targets_dir(environ)})"
        )
    return [parse_host(word, where=f"target {value!r}") for word in value.replace(",", " ").split()]


def exclude(hosts: Iterable[Host], excluded: Iterable[Host]) -> list[Host]:
    """``hosts`` without repeats and without those an exclusion matches, in order."""
    drop = list(excluded)
    kept: dict[Host, None] = {}
    for host in hosts:
        if host not in kept and not any(rule.matches(host) for rule in drop):
            kept[host] = None
    return list(kept)
