"""A stopwatch for printing times relative to a starting point (asynciojobs' Watch)."""

from __future__ import annotations

import time
from datetime import datetime

__all__ = ["Watch"]


class Watch:
    """A stopwatch that prints times relative to its start (or to the last reset).

    ``Watch("message")`` prints ``000.000  message`` (with ``show_elapsed``) and/or the
    wall clock (with ``show_wall_clock``) when created.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        show_elapsed: bool = True,
        show_wall_clock: bool = False,
    ) -> None:
        self.start = time.perf_counter()
        text = "" if message is None else message
        if show_elapsed:
            self.print_elapsed(f" {text}\n")
        if show_wall_clock:
            self.print_wall_clock(f" {text}\n")

    def reset(self) -> None:
        """Start counting from now."""
        self.start = time.perf_counter()

    def seconds(self) -> float:
        """Seconds since the start."""
        return time.perf_counter() - self.start

    def elapsed(self) -> str:
        """Seconds since the start, as ``SSS.mmm``."""
        return f"{self.seconds():07.3f}"

    def print_elapsed(self, suffix: str = " ") -> None:
        """Print the elapsed time, a space and ``suffix`` (no newline unless in it)."""
        print(f"{self.elapsed()} {suffix}", end="")

    @staticmethod
    def print_wall_clock(suffix: str = " ") -> None:
        """Print the time of day as ``HH:MM:SS.mmm`` then ``suffix``."""
        now = datetime.now()  # a human-facing local time
        print(f"{now:%H:%M:%S}.{now.microsecond // 1000:03d}{suffix}", end="")
