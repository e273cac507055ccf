"""Hypothesis profiles for the harness: ``dev``, ``ci`` and ``soak``.

``dev`` is fast and part of the normal test run; ``ci`` draws more examples and
stays within a few minutes; ``soak`` draws at least 10 000 graphs per backend and
runs on demand. :func:`load_profile` picks one from ``JOBGRAPH_HYPOTHESIS_PROFILE``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["PROFILES", "PROFILE_ENV", "backends_for_profile", "load_profile", "register_profiles"]

PROFILE_ENV = "JOBGRAPH_HYPOTHESIS_PROFILE"
"""The environment variable naming the profile to load (default ``dev``)."""

PROFILES = {"dev": 75, "ci": 400, "soak": 10_000}
"""Examples per property and per backend, by profile."""

_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large]


def register_profiles() -> None:
    """Register the ``dev``, ``ci`` and ``soak`` profiles with hypothesis (idempotent).

    No profile has a deadline: a run on a real clock may be slowed down by a loaded
    machine, and that is not a failure.
    """
    for name, examples in PROFILES.items():
        settings.register_profile(
            name,
            max_examples=examples,
            deadline=None,
            suppress_health_check=_SLOW_IS_FINE,
            print_blob=True,
        )


def load_profile(name: str | None = None) -> str:
    """Register the profiles and load one.

    Args:
        name: the profile; None: ``$JOBGRAPH_HYPOTHESIS_PROFILE``, else ``dev``.

    Returns:
        The name loaded.

    Raises:
        ValueError: the name is not one of :data:`PROFILES`.
    """
    chosen = name or os.environ.get(PROFILE_ENV) or "dev"
    if chosen not in PROFILES:
        raise ValueError(f"{PROFILE_ENV} must be one of {sorted(PROFILES)}, not {chosen!r}")
    register_profiles()
    settings.load_profile(chosen)
    return chosen


def backends_for_profile(name: str | None = None) -> tuple[str, ...]:
    """The backends a profile runs graphs on.

    Args:
        name: the profile; None: ``$JOBGRAPH_HYPOTHESIS_PROFILE``, else ``dev``.

    Returns:
        asyncio and trio's MockClock for ``dev``; trio on a real clock too for any
        other name.
    """
    chosen = name or os.environ.get(PROFILE_ENV) or "dev"
    if chosen == "dev":
        return ("asyncio", "trio-mockclock")
    return ("asyncio", "trio", "trio-mockclock")
