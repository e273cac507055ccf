"""Shared pieces of the services-across-SSH tests: services, remote scripts, runs."""

from __future__ import annotations

import json
from typing import Any

import anyio

import jobgraph as jg
from jobgraph import services as sv
from jobgraph_ssh import RunString, SshJob, close_all

# a remote Python script's first lines: the client, and a way to report each attempt
PRELUDE = """\
#!/usr/bin/env python3
import json, os, sys
sys.path.insert(0, os.path.dirname(os.environ["JOBGRAPH_CALL"]))
import jobgraph_call as jc

def attempt(tag, function, *args, **kwargs):
    try:
        value = function(*args, **kwargs)
        print(json.dumps({"tag": tag, "ok": True, "value": value}), flush=True)
    except Exception as exc:
        print(json.dumps({
            "tag": tag, "ok": False, "cls": type(exc).__name__,
            "bases": [c.__name__ for c in type(exc).__mro__],
            "kind": getattr(exc, "kind", None), "message": str(exc),
            "details": getattr(exc, "details", None),
        }), flush=True)
"""


class Echo(sv.Service):
    """A service named ``Echo``: ``echo(text)`` returns ``text``, for any caller."""

    @sv.expose(sv.AllowAny())
    def echo(self, text: str) -> str:
        return text


def python_script(body: str, **options: Any) -> RunString:
    """A remote Python script: PRELUDE then ``body``."""
    return RunString(PRELUDE + body, remote_name="calls.py", **options)


def outcomes(job: SshJob, index: int = -1) -> dict[str, dict[str, Any]]:
    """The JSON lines printed by the job's command ``index``, by tag."""
    stdout = job.result()[index].stdout or ""
    found: dict[str, dict[str, Any]] = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            found[record["tag"]] = record
    return found


async def run_jobs(pool: sv.ServicePool, *jobs: jg.AbstractJob, started: bool = True) -> bool:
    """Run the jobs (with the pool's job when ``started``), then close their nodes."""
    try:
        with anyio.fail_after(60):
            if started:
                serve = pool.job()
                for job in jobs:
                    job.requires(serve)
                return await jg.Scheduler(serve, *jobs).run()
            return await jg.Scheduler(*jobs).run()
    finally:
        await close_all(jobs)


# The start of a script that talks to the services socket by hand, as a hostile or
# broken client would: connect(), read_reply(sock), frame(body) (4-byte length + body).
RAW_CLIENT = """
import socket, struct, threading, time

def connect():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(os.environ["JOBGRAPH_SERVICES"][len("unix:"):])
    sock.settimeout(15)
    return sock

def read_reply(sock):
    header = b""
    while len(header) < 4:
        chunk = sock.recv(4 - len(header))
        if not chunk:
            return None
        header += chunk
    (size,) = struct.unpack(">I", header)
    body = b""
    while len(body) < size:
        body += sock.recv(size - len(body))
    return json.loads(body)

def frame(body):
    return struct.pack(">I", len(body)) + body
"""
