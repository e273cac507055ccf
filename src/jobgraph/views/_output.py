"""Writing views to streams that may not take every character.

A view must never turn a good run into an error: a job labelled ``café`` listed on an
ASCII-only stdout (``PYTHONIOENCODING=ascii``, a bare ``C`` locale, a pipe on an old
system) is written with backslash escapes (``caf\\xe9``) instead of raising
:class:`UnicodeEncodeError`.
"""

from __future__ import annotations

import codecs
import sys
from typing import TextIO

__all__ = ["degrade", "encodes", "print_text"]


def _encoding(stream: object) -> str:
    name = getattr(stream, "encoding", None)
    if not isinstance(name, str) or not name:
        return "utf-8"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "ascii"


def encodes(text: str, encoding: str) -> bool:
    """Whether ``encoding`` can write ``text`` as it is.

    Args:
        text: the text to write.
        encoding: a codec name (an unknown one encodes nothing).

    Returns:
        True if encoding ``text`` raises no error.
    """
    try:
        text.encode(encoding)
    except (UnicodeError, LookupError):
        return False
    return True


def degrade(text: str, encoding: str) -> str:
    """``text`` with what ``encoding`` cannot write turned into backslash escapes.

    Args:
        text: the text to write.
        encoding: a codec name (an unknown one is treated as ASCII).

    Returns:
        ``text`` itself if it encodes, else its escaped form.
    """
    if encodes(text, encoding):
        return text
    try:
        return text.encode(encoding, "backslashreplace").decode(encoding)
    except (UnicodeError, LookupError):
        return text.encode("ascii", "backslashreplace").decode("ascii")


def print_text(text: str, file: TextIO | None = None) -> None:
    """Write ``text`` as it is, escaping the characters the stream cannot encode.

    Never raises :class:`UnicodeEncodeError`. Nothing is written when there is no
    stdout (``pythonw``). No newline is added.

    Args:
        text: the text to write.
        file: the stream (default: the current ``sys.stdout``).
    """
    stream = sys.stdout if file is None else file
    if stream is None:
        return
    stream.write(degrade(text, _encoding(stream)))
