"""check_job_kind on well-behaved and on broken job kinds: each broken contract is named."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import jobgraph as jg
from jobgraph.testing import KindReport, check_job_kind


class Sleeper(jg.AbstractJob):
    """A well-behaved kind: sleeps, then returns."""

    def __init__(self, duration: float, **options: Any) -> None:
        super().__init__(**options)
        self.duration = duration

    async def run(self) -> float:
        await anyio.sleep(self.duration)
        return self.duration


class Swallower(Sleeper):
    async def run(self) -> float:
        try:
            await anyio.sleep(self.duration)
        except anyio.get_cancelled_exc_class():
            return -1.0  # wrong: the cancellation is swallowed
        return self.duration


class Straggler(Sleeper):
    async def run(self) -> float:
        with anyio.CancelScope(shield=True):
            await anyio.sleep(self.duration)  # deaf to cancellation and timeouts
        return self.duration


class Forgetful(jg.AbstractJob):
    def __init__(self, duration: float, **options: Any) -> None:
        del options  # wrong: the options never reach AbstractJob
        super().__init__()
        self.duration = duration

    async def run(self) -> float:
        await anyio.sleep(self.duration)
        return self.duration


class OneShot(Sleeper):
    async def run(self) -> float:
        if getattr(self, "done", False):
            raise RuntimeError("this job already ran")
        self.done = True
        return await super().run()


class StuckShutdown(Sleeper):
    async def shutdown(self) -> object:
        await anyio.sleep_forever()
        return None


def report(kind: Any, *args: Any, strict: bool = False) -> KindReport:
    return check_job_kind(
        kind, *args, probe=0.02, shutdown_timeout=0.05, patience=1.0, strict=strict
    )


def test_well_behaved_kind_has_no_violation() -> None:
    result = report(Sleeper, 0.1)
    assert result.ok, str(result)
    assert result.check() is result
    assert "no violation" in str(result)


def test_quick_kind_notes_what_it_could_not_exercise() -> None:
    result = report(Sleeper, 0.0)
    assert result.ok, str(result)
    assert any("cancellation not exercised" in note for note in result.notes)
    assert any("timeout not exercised" in note for note in result.notes)


def test_factory_of_plain_jobs_is_checked_like_a_class() -> None:
    def make(**options: Any) -> jg.Job:
        return jg.Job(anyio.sleep, 0.1, **options)

    assert report(make).ok


def test_swallowed_cancellation_is_reported() -> None:
    result = report(Swallower, 0.1)
    assert any("swallowed the cancellation" in v for v in result.violations), str(result)


def test_deaf_job_is_reported_as_straggling_and_ignoring_its_timeout() -> None:
    result = report(Straggler, 0.15)
    text = str(result)
    assert any(
        "kept running more than 0.05s after it was cancelled" in v for v in result.violations
    ), text
    assert any("not with a JobTimeoutError" in v for v in result.violations), text


def test_dropped_options_are_reported() -> None:
    result = report(Forgetful, 0.0)
    assert any("label='probe-label' was not passed on" in v for v in result.violations)


def test_job_that_cannot_run_twice_is_reported() -> None:
    result = report(OneShot, 0.0)
    assert any("not re-runnable" in v for v in result.violations), str(result)


def test_stuck_shutdown_hook_is_reported() -> None:
    result = report(StuckShutdown, 0.0)
    assert any("shutdown() hook" in v for v in result.violations), str(result)


def test_strict_mode_raises_with_the_violations_in_plain_words() -> None:
    with pytest.raises(AssertionError, match="swallowed the cancellation"):
        report(Swallower, 0.1, strict=True)


def test_factory_that_builds_no_job_is_reported() -> None:
    result = report(lambda: "not a job")
    assert not result.ok
    assert "which is not a job" in result.violations[0]


def test_a_nested_scheduler_keeps_the_job_contract_with_its_own_timeout_error() -> None:
    def pair(**options: Any) -> jg.Scheduler:
        first = Sleeper(0.1, label="first")
        return jg.Scheduler(first, Sleeper(0.1, label="second", requires=first), **options)

    report = check_job_kind(pair, backends=("trio",))
    assert report.ok, str(report)
    assert report.notes == []
