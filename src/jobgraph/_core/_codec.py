"""The journal's codec: results as JSON text, plus a few tagged types; never pickle.

Plain JSON carries ``None``, booleans, ints, floats, strings, lists and dicts with string
keys. A few more types travel as a tagged object ``{"$t": tag, "v": value}``: tuples,
sets, frozensets, bytes, :class:`pathlib.PurePath` objects, dicts whose keys are not all
strings (or that hold the key ``"$t"``), and the classes registered with
:func:`register_type` (``jobgraph_ssh`` registers its ``CommandResult``). Anything else
cannot be journaled: :func:`encode` says why, and the job runs again on resume.

Decoding imports nothing: a tag names a type registered in this process, so reading a
journal never runs code named by the file.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import math
import pathlib
from collections.abc import Callable
from typing import Any

__all__ = ["decode", "encode", "fingerprint", "register_type"]

_TAG = "$t"


class _UnjournalableError(Exception):
    """A value the codec cannot carry (the message says which, and where)."""


# tag -> (class, to plain data, from plain data)
_BY_TAG: dict[str, tuple[type, Callable[[Any], Any], Callable[[Any], Any]]] = {}
_BY_CLASS: dict[type, str] = {}


def register_type(
    cls: type,
    tag: str | None = None,
    *,
    encode: Callable[[Any], Any] | None = None,
    decode: Callable[[Any], Any] | None = None,
) -> None:
    """Let the journal carry instances of ``cls`` (exactly that class, not subclasses).

    Args:
        cls: the class. A dataclass needs nothing else: its fields are journaled (each
            one must be journalable in turn) and it is rebuilt with ``cls(**fields)``.
        tag: the name written in the journal; default ``module.QualifiedName``. Keep it
            stable: a journal written with one tag is read back with the same.
        encode: turns an instance into journalable data (default for a dataclass: a dict
            of its fields).
        decode: turns that data back into an instance (default for a dataclass:
            ``cls(**data)``).

    Raises:
        JobDefinitionError: ``cls`` is not a class, or is not a dataclass and ``encode``
            or ``decode`` is missing, or ``tag`` is taken by another class.
    """
    from ._exceptions import JobDefinitionError

    if not isinstance(cls, type):
        raise JobDefinitionError(f"register_type() takes a class, not {cls!r}")
    name = tag or f"{cls.__module__}.{cls.__qualname__}"
    if encode is None or decode is None:
        if not dataclasses.is_dataclass(cls):
            raise JobDefinitionError(
                f"register_type({cls.__qualname__}): not a dataclass, so give encode= and decode="
            )
        names = tuple(field.name for field in dataclasses.fields(cls))
        if encode is None:

            def encode(value: Any) -> Any:
                return {name: getattr(value, name) for name in names}

        if decode is None:

            def decode(data: Any) -> Any:
                return cls(**data)

    known = _BY_TAG.get(name)
    if known is not None and known[0] is not cls:
        raise JobDefinitionError(
            f"register_type(): tag {name!r} is already used by {known[0].__qualname__}"
        )
    _BY_TAG[name] = (cls, encode, decode)
    _BY_CLASS[cls] = name


def _plain(value: Any, where: str) -> Any:  # noqa: PLR0911 - one return per type
    """``value`` as JSON-ready data, tagging what JSON lacks."""
    kind = type(value)
    if value is None or kind is str or kind is bool or kind is int:
        return value
    if kind is float:
        if not math.isfinite(value):
            return {_TAG: "float", "v": repr(value)}
        return value
    if kind is list:
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if kind is dict:
        if all(type(key) is str for key in value) and _TAG not in value:
            return {key: _plain(item, f"{where}[{key!r}]") for key, item in value.items()}
        return {
            _TAG: "dict",
            "v": [
                [_plain(key, f"{where} key"), _plain(item, f"{where}[{key!r}]")]
                for key, item in value.items()
            ],
        }
    if kind is tuple:
        return {_TAG: "tuple", "v": [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]}
    if kind is set or kind is frozenset:
        items = [_plain(item, f"{where} item") for item in value]
        items.sort(key=lambda item: json.dumps(item, sort_keys=True))
        return {_TAG: kind.__name__, "v": items}
    if kind is bytes:
        return {_TAG: "bytes", "v": base64.b64encode(value).decode("ascii")}
    if isinstance(value, pathlib.PurePath) and kind.__module__ == "pathlib":
        return {_TAG: kind.__name__, "v": str(value)}
    tag = _BY_CLASS.get(kind)
    if tag is not None:
        return {_TAG: tag, "v": _plain(_BY_TAG[tag][1](value), where)}
    raise _UnjournalableError(f"{where} is a {kind.__qualname__}, which the journal cannot carry")


_PATHS = {
    name: getattr(pathlib, name)
    for name in ("Path", "PosixPath", "WindowsPath", "PurePath", "PurePosixPath", "PureWindowsPath")
}


def _hook(data: dict[str, Any]) -> Any:  # noqa: PLR0911 - one return per tag
    tag = data.get(_TAG)
    if tag is None:
        return data
    value = data["v"]
    if tag == "tuple":
        return tuple(value)
    if tag == "dict":
        return {_freeze(key): item for key, item in value}
    if tag == "set":
        return set(map(_freeze, value))
    if tag == "frozenset":
        return frozenset(map(_freeze, value))
    if tag == "bytes":
        return base64.b64decode(value)
    if tag == "float":
        return float(value)
    path = _PATHS.get(tag)
    if path is not None:
        if path is pathlib.WindowsPath or path is pathlib.PosixPath:
            path = pathlib.Path
        return path(value)
    known = _BY_TAG.get(tag)
    if known is None:
        raise ValueError(f"the journal holds a {tag!r}, a type not registered in this process")
    return known[2](value)


def _freeze(value: Any) -> Any:
    """JSON lists decoded where a hashable is needed (set items, dict keys) were tuples."""
    if type(value) is list:
        return tuple(_freeze(item) for item in value)
    return value


def encode(value: Any) -> tuple[str | None, str | None]:
    """The journal's text for ``value``.

    Returns:
        ``(text, None)``, or ``(None, why)`` when the value cannot be journaled.
    """
    if value is None:
        return "null", None
    try:
        return json.dumps(_plain(value, "the result"), separators=(",", ":")), None
    except _UnjournalableError as exc:
        return None, str(exc)
    except (ValueError, RecursionError) as exc:  # a circular structure...
        return None, f"the result cannot be journaled ({exc})"


def decode(text: str) -> Any:
    """The value journaled as ``text`` (see :func:`encode`).

    Raises:
        ValueError: the text holds a tag no type registered in this process answers.
    """
    if text == "null":
        return None
    return json.loads(text, object_hook=_hook)


def _fingerprint_data(value: Any) -> Any:  # noqa: PLR0911 - one return per type
    """Plain data as itself; other objects by their type only (their changes go unseen)."""
    kind = type(value)
    if value is None or kind is str or kind is bool or kind is int or kind is float:
        return value
    if kind is list or kind is tuple:
        return [_fingerprint_data(item) for item in value]
    if kind is dict:
        return [[_fingerprint_data(k), _fingerprint_data(v)] for k, v in value.items()]
    if kind is set or kind is frozenset:
        return sorted((_fingerprint_data(item) for item in value), key=repr)
    if kind is bytes:
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, pathlib.PurePath):
        return str(value)
    return f"<{kind.__qualname__}>"


def fingerprint(data: Any) -> str | None:
    """A short digest of the plain data in ``data`` (None for None)."""
    if data is None:
        return None
    text = json.dumps(_fingerprint_data(data), separators=(",", ":"), default=repr)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
