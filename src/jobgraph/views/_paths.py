"""Checks of the file names given to the views that write files."""

from __future__ import annotations

import os
import re
from pathlib import Path

from jobgraph.lowlevel import InvalidOptionError, JobDefinitionError

__all__ = ["GRAPHVIZ_SUFFIX", "checked_path"]

GRAPHVIZ_SUFFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")


def checked_path(method: str, path: object) -> Path:
    """``path`` as a Path, or a clear error naming ``method``."""
    if not isinstance(path, str | os.PathLike) or isinstance(path, bytes):
        raise JobDefinitionError(f"{method}() takes a file path (str or Path), not {path!r}")
    text = os.fspath(path)
    if not isinstance(text, str) or not text:
        raise InvalidOptionError(f"{method}() takes a non-empty file path, not {path!r}")
    return Path(text)
