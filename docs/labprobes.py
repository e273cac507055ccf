"""Probes for the how-to "Run Python functions on remote hosts".

A module of the reader's own project, not installed on any host: ``Call`` sends it to
each host the first time the host imports it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path


def inventory(*paths: str) -> dict[str, object]:
    """What each path is on this host, and the host's system name."""
    if not paths:
        raise ValueError("no path to look at")
    kinds = {}
    for path in map(Path, paths):
        kinds[path] = "directory" if path.is_dir() else "file" if path.exists() else "missing"
    print(f"looked at {len(paths)} paths")
    return {"system": platform.system(), "kinds": kinds}


def setting(name: str) -> dict[str, str | None]:
    """The environment variable ``name``, as this function sees it and as a process it
    starts sees it (``None``: not set)."""
    child = subprocess.run(
        [sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return {"function": os.environ.get(name), "child": json.loads(child.stdout).get(name)}
