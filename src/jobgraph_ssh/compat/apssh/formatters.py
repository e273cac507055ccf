"""apssh's module formatters (for imports like ``from apssh.formatters import ...``)."""

from ._formatters import (
    EXTENDED_DATA_STDERR,
    CaptureFormatter,
    ColonFormatter,
    Formatter,
    HostFormatter,
    RawFormatter,
    SubdirFormatter,
    TerminalFormatter,
    TimeColonFormatter,
    TimeHostFormatter,
)

__all__ = [
    "EXTENDED_DATA_STDERR",
    "CaptureFormatter",
    "ColonFormatter",
    "Formatter",
    "HostFormatter",
    "RawFormatter",
    "SubdirFormatter",
    "TerminalFormatter",
    "TimeColonFormatter",
    "TimeHostFormatter",
]
