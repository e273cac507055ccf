"""apssh's module keys (for imports like ``from apssh.keys import ...``)."""

from ._keys import import_private_key, load_agent_keys, load_private_keys

__all__ = [
    "import_private_key",
    "load_agent_keys",
    "load_private_keys",
]
