"""Loopback SSH hosts to try ``jobgraph_ssh`` and ``jobgraph-ssh`` on a laptop.

``python -m jobgraph_ssh.sandbox --hosts 4`` starts four SSH servers (asyncssh, in this
process) listening on ``127.0.0.1`` only, each with a host key of its own, and writes
into a directory (``./jobgraph-sandbox`` unless ``--dir`` says otherwise):

- ``id_ed25519`` (and ``.pub``): the client key the hosts accept (made once, then kept);
- ``known_hosts``: the hosts' keys, so host keys are checked as they would be for real;
- ``targets``: the hosts, one ``127.0.0.1:PORT`` a line, a target file for ``-t``;
- ``targets.d/``: a per-user targets directory holding ``lab`` (every host) and
  ``node1``... (one host each), for ``JOBGRAPH_SSH_TARGETS``;
- ``bin/jobgraph-ssh``: the command with ``-k`` and ``--known-hosts-file`` set for these
  hosts, and ``env.sh``, which puts it first on ``PATH`` and exports
  ``JOBGRAPH_SSH_TARGETS`` and ``JOBGRAPH_SANDBOX``;
- ``sandbox.json``: what :meth:`Sandbox.load` reads.

It prints the command to try next and runs until Ctrl-C (or SIGTERM), which stops the
servers and the commands they run. The hosts run each command with ``/bin/sh -c``, as
the current user, in ``DIR/home`` (shared by every host), with SFTP; they accept any user
name with the client key, and forward connections (so one can serve as a gateway) and
listeners (remote services) on the loopback interface only. Nothing listens on another
address, and nothing outside the directory is written.

From Python, :meth:`Sandbox.load` reads a running sandbox's directory and
:meth:`Sandbox.node` makes an :class:`~jobgraph_ssh.SshNode` for one of its hosts::

    from jobgraph_ssh.sandbox import Sandbox

    sandbox = Sandbox.load("jobgraph-sandbox")
    node = sandbox.node(0)  # the first host
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobgraph_ssh import SshNode

__all__ = ["DEFAULT_DIRECTORY", "ENV_SANDBOX", "Sandbox", "main"]

DEFAULT_DIRECTORY = "jobgraph-sandbox"
ENV_SANDBOX = "JOBGRAPH_SANDBOX"  # env.sh exports the sandbox's directory under this name


@dataclass(frozen=True)
class Sandbox:
    """A running sandbox, as its directory describes it.

    Attributes:
        directory: where its files are.
        host: the address its hosts listen on (``127.0.0.1``).
        ports: one port per host.
        username: the user name to log in as (any name works; this is yours).
        key: the client's private key file.
        known_hosts: the known_hosts file listing the hosts' keys.
        pid: the process serving the hosts.
    """

    directory: Path
    host: str
    ports: tuple[int, ...]
    username: str
    key: Path
    known_hosts: Path
    pid: int

    @classmethod
    def load(cls, directory: str | os.PathLike[str] | None = None) -> Sandbox:
        """Read a sandbox's ``sandbox.json``.

        Args:
            directory: the sandbox's directory; None for ``$JOBGRAPH_SANDBOX``, else
                ``./jobgraph-sandbox``.

        Returns:
            The sandbox (whether its hosts still run is not checked).

        Raises:
            FileNotFoundError: no sandbox was started there.
        """
        where = Path(directory or os.environ.get(ENV_SANDBOX) or DEFAULT_DIRECTORY)
        try:
            data: dict[str, Any] = json.loads((where / "sandbox.json").read_text())
        except FileNotFoundError:
            raise FileNotFoundError(
                f"no sandbox in {str(where)!r}: start one with "
                f"'python -m jobgraph_ssh.sandbox --dir {where}'"
            ) from None
        return cls(
            directory=where.resolve(),
            host=data["host"],
            ports=tuple(data["ports"]),
            username=data["username"],
            key=Path(data["key"]),
            known_hosts=Path(data["known_hosts"]),
            pid=data["pid"],
        )

    def names(self) -> list[str]:
        """The hosts as targets of ``jobgraph-ssh``.

        Returns:
            ``127.0.0.1:PORT`` for each host, in order.
        """
        return [f"{self.host}:{port}" for port in self.ports]

    def node(self, index: int, **options: Any) -> SshNode:
        """An :class:`~jobgraph_ssh.SshNode` for one of the hosts.

        Args:
            index: which host, from 0 (it wraps around: with 4 hosts, 4 is host 0 again).
            **options: more :class:`~jobgraph_ssh.SshNode` options (``label``,
                ``gateway``, ``formatter``...); ``label`` defaults to ``node<index+1>``.

        Returns:
            The node, with the sandbox's key, known_hosts file and user name.
        """
        port = self.ports[index % len(self.ports)]
        options.setdefault("label", f"node{index % len(self.ports) + 1}")
        return SshNode(
            self.host,
            port=port,
            username=self.username,
            keys=str(self.key),
            known_hosts=str(self.known_hosts),
            **options,
        )


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "sandbox"


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    temporary = path.with_name(path.name + ".tmp")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(handle, "w") as file:
        file.write(text)
    os.chmod(temporary, mode)
    os.replace(temporary, path)


def _client_key(directory: Path) -> tuple[Path, Path]:
    from jobgraph_ssh._asyncssh._keys import new_private_key

    private, public = directory / "id_ed25519", directory / "id_ed25519.pub"
    if not private.is_file() or not public.is_file():
        private_text, public_text = new_private_key()
        _write(private, private_text, 0o600)
        _write(public, public_text)
    return private, public


def _write_files(directory: Path, ports: list[int], host_keys: list[str], key: Path) -> Path:
    """Every file but the keys; returns the known_hosts file."""
    known_hosts = directory / "known_hosts"
    _write(
        known_hosts,
        "".join(f"[127.0.0.1]:{p} {k}\n" for p, k in zip(ports, host_keys, strict=True)),
    )
    names = [f"127.0.0.1:{port}" for port in ports]
    _write(directory / "targets", "\n".join(names) + "\n")
    targets = directory / "targets.d"
    targets.mkdir(exist_ok=True)
    for old in targets.iterdir():
        if old.name.startswith("node"):
            old.unlink()
    _write(targets / "lab", "\n".join(names) + "\n")
    for number, name in enumerate(names, 1):
        _write(targets / f"node{number}", name + "\n")
    (directory / "bin").mkdir(exist_ok=True)
    quoted = shlex.quote
    _write(
        directory / "bin" / "jobgraph-ssh",
        "#!/bin/sh\n# jobgraph-ssh with the sandbox's key and known_hosts file\n"
        f"exec {quoted(sys.executable)} -m jobgraph_ssh -k {quoted(str(key))} "
        f'--known-hosts-file {quoted(str(known_hosts))} "$@"\n',
        0o755,
    )
    _write(
        directory / "env.sh",
        "# . this file: jobgraph-ssh then reaches the sandbox's hosts\n"
        f"PATH={quoted(str(directory / 'bin'))}:$PATH\n"
        f"JOBGRAPH_SSH_TARGETS={quoted(str(targets))}\n"
        f"{ENV_SANDBOX}={quoted(str(directory))}\n"
        f"export PATH JOBGRAPH_SSH_TARGETS {ENV_SANDBOX}\n",
    )
    return known_hosts


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jobgraph_ssh.sandbox",
        description="Start loopback SSH hosts (127.0.0.1 only) to try jobgraph-ssh and "
        "jobgraph_ssh on; Ctrl-C stops them.",
    )
    parser.add_argument("--hosts", type=int, default=4, help="how many hosts (default 4)")
    parser.add_argument(
        "--dir", default=DEFAULT_DIRECTORY,
        help=f"where to write the key, known_hosts and targets (default ./{DEFAULT_DIRECTORY})",
    )  # fmt: skip
    parser.add_argument(
        "--port", type=int, default=0,
        help="host i listens on PORT + i (default: free ports chosen by the system)",
    )  # fmt: skip
    parser.add_argument(
        "--json", action="store_true",
        help="print one JSON line when ready (the contents of sandbox.json), for programs",
    )  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m jobgraph_ssh.sandbox``: start the hosts, write the files, print
    the command to try next, serve until Ctrl-C or SIGTERM.

    Args:
        argv: the arguments, without the program name; None for ``sys.argv[1:]``.

    Returns:
        0 once stopped; 2 for a bad argument or a directory that cannot be written.
    """
    parser = _parser()
    options = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    if not 1 <= options.hosts <= 100:
        parser.error(f"--hosts must be 1..100, not {options.hosts}")
    if options.port and not 1024 <= options.port <= 65535 - options.hosts:
        parser.error(f"--port must leave room for {options.hosts} ports in 1024..65535")
    directory = Path(options.dir).resolve()
    try:
        (directory / "home").mkdir(parents=True, exist_ok=True)
        key, public = _client_key(directory)
    except OSError as exc:
        sys.stderr.write(f"sandbox: cannot write in {str(directory)!r}: {exc.strerror or exc}\n")
        return 2
    from jobgraph_ssh._asyncssh import _sandbox_server

    here = os.path.relpath(directory)  # as the user named it, before the server's chdir
    shown = here if not here.startswith("..") else str(directory)
    return _sandbox_server.serve(
        directory,
        hosts=options.hosts,
        port=options.port,
        public_key=public,
        ready=lambda ports, keys: _ready(directory, shown, ports, keys, key, as_json=options.json),
    )


def _ready(
    directory: Path,
    shown: str,
    ports: list[int],
    host_keys: list[str],
    key: Path,
    *,
    as_json: bool,
) -> None:
    known_hosts = _write_files(directory, ports, host_keys, key)
    info = {
        "host": "127.0.0.1",
        "ports": ports,
        "username": _user(),
        "key": str(key),
        "known_hosts": str(known_hosts),
        "pid": os.getpid(),
        "directory": str(directory),
    }
    _write(directory / "sandbox.json", json.dumps(info, indent=2) + "\n")
    if as_json:
        sys.stdout.write(json.dumps(info) + "\n")
    else:
        sys.stdout.write(
            f"{len(ports)} SSH hosts on 127.0.0.1, ports {', '.join(map(str, ports))}; "
            f"key, known_hosts and targets in {shown}/\n"
            f"try, in another terminal:\n\n"
            f"    . {shlex.quote(shown)}/env.sh && jobgraph-ssh -t lab uname -a\n\n"
            f"(or: jobgraph-ssh -k {shown}/id_ed25519 --known-hosts-file "
            f"{shown}/known_hosts -t {shown}/targets uname -a)\n"
            "Ctrl-C stops the hosts.\n"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
