"""apssh's module formatters (for imports like ``from apssh.formatters import ...``)."""

from ._formatters import (  # noqa: F401
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
