"""The harness's seam for job kinds: a behaviour builds its job as another kind
(:meth:`Behaviour.make_job`), notes its attempts (:meth:`Recorder.observe`) and tells
the oracle what to expect (:meth:`Behaviour.value_of`, :meth:`Behaviour.plan`).

``Tick`` builds ``Countdown`` jobs, a kind of this module (an AbstractJob whose result
wraps its value in a dict); under trio's MockClock the oracle checks even their
durations, from the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

import jobgraph as jg
from jobgraph.testing import (
    Behaviour,
    JobSpec,
    Plan,
    Recorder,
    RetrySpec,
    SchedulerSpec,
    assert_valid,
    backends_for_profile,
    behaviours,
    check,
    graphs,
    run_graph,
)

BACKENDS = backends_for_profile()


class KindError(Exception):
    """What a failing Countdown raises."""


class Countdown(jg.AbstractJob):
    """A job kind: waits, then returns ``{"value": value}`` or raises KindError."""

    def __init__(
        self, recorder: Recorder, name: str, seconds: float, value: int, fails: bool, **options: Any
    ) -> None:
        self.recorder, self.name = recorder, name
        self.seconds, self.value, self.fails = seconds, value, fails
        super().__init__(**options)

    async def run(self) -> dict[str, int]:
        return await self.recorder.observe(self.name, self.attempt)

    async def attempt(self, number: int) -> dict[str, int]:
        await anyio.sleep(self.seconds)
        if self.fails:
            raise KindError(f"{self.name} attempt {number}")
        return {"value": self.value}


@dataclass(frozen=True, slots=True)
class Tick(Behaviour):
    seconds: float = 0.0
    result: int = 0
    fails: bool = False

    def can_fail(self) -> bool:
        return self.fails

    def value(self) -> Any:
        return None if self.fails else self.result

    def make_job(self, name: str, recorder: Recorder, **options: Any) -> jg.AbstractJob:
        return Countdown(recorder, name, self.seconds, self.result, self.fails, **options)

    def value_of(self, result: Any) -> Any:
        return result["value"] if isinstance(result, dict) else result

    def plan(self, attempt: int) -> Plan | None:
        return Plan("raise" if self.fails else "ok", self.seconds, KindError)


TICKS = st.builds(
    Tick,
    seconds=st.sampled_from((0.0, 0.001, 0.005, 0.02)),
    result=st.integers(0, 9),
    fails=st.booleans(),
)


@pytest.mark.parametrize("backend", BACKENDS)
@given(spec=graphs(jobs=st.one_of(behaviours(), TICKS)))
def test_graphs_with_jobs_of_another_kind_follow_the_semantics(
    backend: str, spec: SchedulerSpec
) -> None:
    assert_valid(run_graph(spec, backend=backend))


def one(behaviour: Behaviour, **options: Any) -> SchedulerSpec:
    return SchedulerSpec("top", (JobSpec("j1", behaviour, **options),))


def test_a_job_of_another_kind_is_built_by_its_behaviour() -> None:
    trace = run_graph(one(Tick(0.005, 4)))
    assert_valid(trace)
    assert isinstance(trace.built.jobs["j1"], Countdown)
    assert trace.outcomes["j1"].result == {"value": 4}
    assert [note.what for note in trace.notes] == ["enter", "return", "exit"]


def test_a_failing_job_of_another_kind_is_retried_as_its_plan_says() -> None:
    trace = run_graph(one(Tick(0.005, fails=True), retry=RetrySpec(attempts=3)))
    assert_valid(trace)
    assert trace.outcomes["j1"].attempts == 3
    assert isinstance(trace.outcomes["j1"].exception, KindError)


@dataclass(frozen=True, slots=True)
class SlowerThanPlanned(Tick):
    def plan(self, attempt: int) -> Plan | None:
        return Plan("ok", self.seconds / 2, KindError)


@dataclass(frozen=True, slots=True)
class FailsUnplanned(Tick):
    def plan(self, attempt: int) -> Plan | None:
        return Plan("ok", self.seconds, KindError)


@dataclass(frozen=True, slots=True)
class WrongValue(Tick):
    def value_of(self, result: Any) -> Any:
        return result


@dataclass(frozen=True, slots=True)
class Unobserved(Tick):
    def make_job(self, name: str, recorder: Recorder, **options: Any) -> jg.AbstractJob:
        return Countdown(Recorder(), name, self.seconds, self.result, self.fails, **options)


@pytest.mark.parametrize(
    ("behaviour", "complaint"),
    [
        (SlowerThanPlanned(0.01, 1), "attempt 1 lasted 0.01"),
        (FailsUnplanned(0.01, fails=True), "should have succeeded on attempt 1"),
        (WrongValue(0.01, 1), "returned {'value': 1}, not 1"),
        (Unobserved(0.01, 1), "records 1 attempt(s), ran 0"),
    ],
)
def test_the_oracle_holds_jobs_of_another_kind_to_their_behaviour(
    behaviour: Tick, complaint: str
) -> None:
    violations = check(run_graph(one(behaviour)))
    assert any(complaint in text for text in violations), violations


def test_a_behaviour_without_a_plan_is_judged_by_the_other_rules() -> None:
    @dataclass(frozen=True, slots=True)
    class Unplanned(Tick):
        def plan(self, attempt: int) -> Plan | None:
            return Behaviour.plan(self, attempt)  # the base class: no prediction

    trace = run_graph(one(Unplanned(0.01, 1)))
    assert Unplanned(0.01, 1).plan(1) is None
    assert check(trace) == []
    assert trace.outcomes["j1"].result == {"value": 1}
