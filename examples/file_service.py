"""Hosts download files from the controller through a file service (mitogen's example).

The controller runs a ``FileService`` that serves only the files registered with it,
and only to the hosts it allows. Each host runs a small downloader (stdlib Python),
as an SshJob given ``services=pool``: it asks the service for each file, in chunks,
through the job's own SSH connection, and checks the SHA-256 it is told. A host that
is not allowed gets ``AccessDeniedError``, and its job fails.

Run it against real hosts::

    .venv/bin/python examples/file_service.py --deny root@db1 root@web1 root@web2:2222

(keys from the SSH agent or ~/.ssh; the hosts need ``python3``; OpenSSH allows the
forwarding the jobs ask for unless ``AllowStreamLocalForwarding``/``AllowTcpForwarding``
say no). ``tests/ssh_services/test_example.py`` runs it on loopback SSH servers.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import stat
import sys
from pathlib import Path

import anyio

import jobgraph as jg
from jobgraph import services as sv
from jobgraph_ssh import RunString, SshJob, SshNode, close_all
from jobgraph_ssh.services import RemoteCaller, host_of

CHUNK = 256 * 1024  # bytes per fetch: well below the protocol's 1 MiB per message


class AllowedHosts(sv.Policy):
    """Remote callers on the hosts the service itself allows (its ``allowed`` set)."""

    def is_authorized(self, caller: sv.Caller, service: sv.Service, method: str) -> bool:
        return isinstance(caller, RemoteCaller) and caller.host in getattr(service, "allowed", ())

    def describe(self) -> str:
        return "remote callers on the hosts the file service allows"


class FileService(sv.Service):
    """Serves registered files, in chunks, to allowed hosts."""

    def __init__(self, allowed: set[str]) -> None:
        super().__init__()
        self.allowed = allowed
        self.files: dict[str, tuple[str, int, int]] = {}  # path -> (sha256, size, mode)

    @sv.expose(sv.AllowParents())
    @sv.arg_spec(path=str)
    def register(self, path: str) -> str:
        """Let allowed hosts fetch this file (its content as of now)."""
        path = os.path.abspath(path)
        data = Path(path).read_bytes()
        mode = stat.S_IMODE(os.stat(path).st_mode)
        self.files[path] = (hashlib.sha256(data).hexdigest(), len(data), mode)
        return path

    def _known(self, path: str) -> tuple[str, int, int]:
        known = self.files.get(path)
        if known is None:
            raise FileNotFoundError(f"{path} is not registered with the file service")
        return known

    @sv.expose(AllowedHosts())
    @sv.arg_spec(path=str)
    def stat(self, path: str) -> dict[str, object]:
        """The size, mode and SHA-256 of a registered file."""
        digest, size, mode = self._known(path)
        return {"sha256": digest, "size": size, "mode": mode}

    @sv.expose(AllowedHosts())
    @sv.arg_spec(path=str, offset=int)
    async def fetch(self, path: str, offset: int = 0) -> str:
        """Up to CHUNK bytes of a registered file from ``offset``, base64-encoded."""
        self._known(path)
        if offset < 0:
            raise ValueError(f"offset must be >= 0, not {offset}")

        def read() -> bytes:
            with open(path, "rb") as file:
                file.seek(offset)
                return file.read(CHUNK)

        return base64.b64encode(await anyio.to_thread.run_sync(read)).decode()


# runs on each host: python3 download.py DEST PATH...
DOWNLOADER = """\
#!/usr/bin/env python3
import base64, hashlib, os, sys
sys.path.insert(0, os.path.dirname(os.environ["JOBGRAPH_CALL"]))
import jobgraph_call

dest, paths = sys.argv[1], sys.argv[2:]
os.makedirs(dest, exist_ok=True)
for path in paths:
    info = jobgraph_call.call("FileService", "stat", path=path)
    target = os.path.join(dest, os.path.basename(path))
    digest = hashlib.sha256()
    with open(target + ".part", "wb") as out:
        while True:
            chunk = base64.b64decode(
                jobgraph_call.call("FileService", "fetch", path=path, offset=out.tell()))
            if not chunk:
                break
            out.write(chunk)
            digest.update(chunk)
    if digest.hexdigest() != info["sha256"]:
        sys.exit("%s: checksum mismatch" % path)
    os.chmod(target + ".part", info["mode"])
    os.rename(target + ".part", target)
    print("%s %d bytes" % (target, info["size"]))
"""


def build(
    nodes: list[SshNode], denied: list[SshNode], files: list[str], dest: str
) -> tuple[jg.Scheduler, FileService, list[SshJob]]:
    """The scheduler: the service's pool, and one download job per host.

    ``dest`` is where files go on each host; ``{host}`` in it is replaced by the
    host's name (useful when the "hosts" share one machine, as in the tests).
    """
    service = FileService({host_of(node) for node in nodes})
    for path in files:
        service.register(path)
    pool = sv.ServicePool([service], label="files")
    serve = pool.job()
    jobs = [
        SshJob(
            node,
            RunString(
                DOWNLOADER,
                dest.format(host=host_of(node).replace(":", "_")),
                *service.files,
                remote_name="download.py",
            ),
            services=pool,
            requires=serve,
            label=f"download to {host_of(node)}",
            critical=False,
        )
        for node in [*nodes, *denied]
    ]
    return jg.Scheduler(serve, *jobs), service, jobs


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hosts", nargs="+", help="user@host[:port] of the allowed hosts")
    parser.add_argument("--deny", action="append", default=[], help="a host that is refused")
    parser.add_argument("--file", action="append", default=[__file__], help="a file to serve")
    parser.add_argument("--dest", default="/tmp/file-service-demo")  # noqa: S108
    options = parser.parse_args(argv)

    def node(spec: str) -> SshNode:
        user, _, rest = spec.rpartition("@")
        host, _, port = rest.partition(":")
        return SshNode(host, username=user or None, port=int(port or 22))

    nodes, denied = [node(s) for s in options.hosts], [node(s) for s in options.deny]
    scheduler, _, jobs = build(nodes, denied, options.file, options.dest)
    try:
        await scheduler.run()
    finally:
        await close_all(jobs)
    for job in jobs:
        print(f"{job.label}: {'ok' if job.exception is None else job.exception}")
    return 0 if all(job.exception is None for job in jobs[: len(nodes)]) else 1


if __name__ == "__main__":
    sys.exit(anyio.run(main, sys.argv[1:]))
