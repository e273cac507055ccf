"""Retry policy, and what a job does when one of its requirements failed."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum

from ._exceptions import InvalidOptionError, JobDefinitionError

__all__ = ["OnFailedRequirement", "Retry", "check_duration"]


class OnFailedRequirement(StrEnum):
    """What a job does when a requirement failed, was cancelled or was skipped.

    ``RUN`` (the default, as in asynciojobs) runs it anyway; ``SKIP`` marks it skipped
    without running it, and its own dependents then see a failed requirement in turn.
    """

    RUN = "run"
    SKIP = "skip"


def check_duration(name: str, value: float | None, *, allow_zero: bool = True) -> None:
    """Refuse a duration option that is not a number of seconds (or None).

    Args:
        name: how the error names the option, like ``"timeout of job 'fetch'"``.
        value: the value given; None (no limit) is always accepted.
        allow_zero: accept 0 (the default); otherwise only positive values.

    Raises:
        JobDefinitionError: ``value`` is not a number (booleans are refused).
        InvalidOptionError: ``value`` is NaN, negative, or 0 when ``allow_zero`` is False.
    """
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise JobDefinitionError(f"{name} must be a number of seconds or None, not {value!r}")
    if value != value:  # noqa: PLR0124 - NaN is the one value not equal to itself
        raise InvalidOptionError(f"{name} must be a number of seconds or None, not nan")
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidOptionError(f"{name} must be {'>=' if allow_zero else '>'} 0, not {value!r}")


_check_duration = check_duration  # the name the core uses


@dataclass(frozen=True, slots=True)
class Retry:
    """How many times a failing job is tried, and how long to wait between tries.

    The n-th wait (n = 1 after the first failure) is ``backoff * factor ** (n - 1)``,
    capped at ``max_delay``, plus a random ``jitter`` fraction of itself (0 to
    ``jitter``), so many jobs failing together do not retry in lockstep. Only
    exceptions that are instances of ``on`` are retried; any other one fails the
    job at once. A job's ``timeout`` applies to each attempt, and a
    :class:`~jobgraph.JobTimeoutError` is retried when it matches ``on``.

    Args:
        attempts: how many times the job is tried in all (>= 1).
        backoff: seconds to wait after the first failure.
        factor: each further wait is this many times the one before.
        max_delay: the longest wait, in seconds (None: no cap).
        jitter: a random fraction (0 to ``jitter``) of the wait is added to it.
        on: the exception class, or tuple of classes, that are retried.

    Raises:
        JobDefinitionError: an argument is of the wrong type.
        InvalidOptionError: an argument is out of range.

    Cancellation:
        A job waiting between attempts is cancelled like a running one: the wait
        ends and no further attempt is made.
    """

    attempts: int = 3
    backoff: float = 0.0
    factor: float = 2.0
    max_delay: float | None = None
    jitter: float = 0.0
    on: type[Exception] | tuple[type[Exception], ...] = field(default=(Exception,))

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise JobDefinitionError(f"Retry attempts must be an int, not {self.attempts!r}")
        if self.attempts < 1:
            raise InvalidOptionError(f"Retry attempts must be >= 1, not {self.attempts}")
        for name in ("backoff", "factor", "jitter"):
            if getattr(self, name) is None:
                raise JobDefinitionError(f"Retry {name} must be a number, not None")
        _check_duration("Retry backoff", self.backoff)
        _check_duration("Retry max_delay", self.max_delay)
        _check_duration("Retry jitter", self.jitter)
        _check_duration("Retry factor", self.factor)
        on: object = self.on
        if isinstance(on, type):
            on = (on,)
            object.__setattr__(self, "on", on)
        if not isinstance(on, tuple) or not all(
            isinstance(kind, type) and issubclass(kind, Exception) for kind in on
        ):
            raise JobDefinitionError(
                f"Retry on must be an Exception subclass or a tuple of them, not {self.on!r}"
            )

    def retries(self, exception: BaseException) -> bool:
        """Whether this exception is one that the policy retries.

        Args:
            exception: what the failed attempt raised.

        Returns:
            True if ``exception`` is an instance of one of the ``on`` classes.
        """
        return isinstance(exception, self.on)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait after failed attempt number ``attempt`` (1-based).

        Args:
            attempt: the number of the attempt that failed, from 1.
            rng: where the jitter comes from (default: the ``random`` module).

        Returns:
            Seconds to wait before the next attempt.
        """
        base = self.backoff * self.factor ** (attempt - 1)
        if self.max_delay is not None:
            base = min(base, self.max_delay)
        if self.jitter and base:
            base += base * self.jitter * (rng or random).random()
        return base
