"""apssh's module service (for imports like ``from apssh.service import ...``)."""

from ._service import Service

__all__ = [
    "Service",
]
