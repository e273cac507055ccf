"""The oracle itself: it accepts right runs and names each kind of wrong one.

Wrong runs are made by tampering with a built graph before it runs (the engine then
really misbehaves relative to the drawn spec) or with a recorded trace afterwards.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

import pytest

import jobgraph as jg
from jobgraph.services import DeduplicatingService
from jobgraph.testing import (
    Built,
    CallService,
    Flaky,
    Hang,
    JobSpec,
    Raise,
    Recorder,
    RetrySpec,
    Return,
    SchedulerSpec,
    Serve,
    Trace,
    assert_valid,
    check,
    is_deterministic,
    make_body,
    run_graph,
    summary,
)

K = jg.EventKind


def chain() -> SchedulerSpec:
    return SchedulerSpec(
        "top",
        (JobSpec("j1", Return(0.01, 1)), JobSpec("j2", Return(0.01, 2), requires=(0,))),
    )


def run(spec: SchedulerSpec, prepare: Callable[[Built], object] | None = None) -> Trace:
    return run_graph(spec, backend="trio-mockclock", prepare=prepare)


def violations_of(trace: Trace) -> str:
    return "\n".join(check(trace))


def test_oracle_accepts_a_right_run() -> None:
    trace = run(chain())
    assert check(trace) == []
    assert_valid(trace)


def test_dependents_see_their_requirements_results_both_ways() -> None:
    """j2 takes j1's result as a ResultOf placeholder, j4 reads it with result()."""
    spec = SchedulerSpec(
        "top",
        (
            JobSpec("j1", Return(0.01, 3)),
            JobSpec("j2", Return(0.01, 2), requires=(0,)),
            JobSpec("j4", Return(0.01, 4), requires=(0,)),
        ),
    )
    trace = run(spec)
    assert check(trace) == []
    (given,) = trace.built.jobs["j2"].args  # type: ignore[attr-defined]
    assert isinstance(given["j1"], jg.ResultOf)
    assert trace.built.jobs["j4"].args == ()  # type: ignore[attr-defined]
    saw = {note.job: note.values for note in trace.notes if note.what == "saw"}
    assert saw == {"j2": {"j1": 3}, "j4": {"j1": 3}}
    assert "body j2 saw #1 {'j1': 3}" in trace.describe()


@pytest.mark.parametrize("policy", ["run", "skip"])
def test_dependents_see_nothing_of_a_failed_requirement(policy: str) -> None:
    spec = SchedulerSpec(
        "top",
        (
            JobSpec("j1", Raise()),
            JobSpec("j2", Return(0.01, 2), requires=(0,), on_failed_requirement=policy),
            JobSpec("j4", Return(0.01, 4), requires=(0,), on_failed_requirement=policy),
        ),
    )
    trace = run(spec)
    assert check(trace) == []
    ran = {"run": "ok", "skip": "skipped"}[policy]
    assert [trace.outcomes[name].outcome for name in ("j2", "j4")] == [ran, ran]
    saw = {note.job: note.values for note in trace.notes if note.what == "saw"}
    assert saw == ({"j2": {}, "j4": {}} if policy == "run" else {})
    if policy == "run":
        trace.notes = [
            dataclasses.replace(note, values={"j1": None}) if note.what == "saw" else note
            for note in trace.notes
        ]
        assert "attempt 1 saw None from its requirement 'j1', which is failed" in (
            violations_of(trace)
        )


@pytest.mark.parametrize("name", ["j2", "j4"])
def test_oracle_reports_a_dependent_that_saw_a_wrong_result(name: str) -> None:
    spec = SchedulerSpec(
        "top", (JobSpec("j1", Return(0.01, 1)), JobSpec(name, Return(0.01, 2), requires=(0,)))
    )
    trace = run(spec)
    assert check(trace) == []
    notes = trace.notes

    def saw(values: dict[str, int] | None) -> list[Any]:
        return [
            dataclasses.replace(note, values=values) if note.what == "saw" else note
            for note in notes
            if values is not None or note.what != "saw"
        ]

    trace.notes = saw({"j1": 5})
    assert f"job {name!r}: attempt 1 saw 5 from its requirement 'j1', which returned 1" in (
        violations_of(trace)
    )
    trace.notes = saw({})
    assert f"job {name!r}: attempt 1 did not see the result of its requirement 'j1'" in (
        violations_of(trace)
    )
    trace.notes = saw({"j1": 1, "j9": 0})
    assert f"job {name!r} saw results of ['j9'], which it does not require" in violations_of(trace)
    trace.notes = saw(None)
    assert f"job {name!r}: attempt 1 noted nothing it saw" in violations_of(trace)


def test_oracle_reports_a_placeholder_resolved_to_a_stale_value() -> None:
    """As if the engine resolved j2's ResultOf argument to an old result of j1."""

    def stale(built: Built) -> None:
        built.jobs["j2"].args = ({"j1": 0},)  # type: ignore[attr-defined]

    trace = run(chain(), prepare=stale)
    assert "job 'j2': attempt 1 saw 0 from its requirement 'j1', which returned 1" in (
        violations_of(trace)
    )


def test_oracle_reports_a_run_beyond_the_window() -> None:
    spec = SchedulerSpec(
        "top", tuple(JobSpec(f"j{i}", Return(0.01)) for i in range(3)), jobs_window=1
    )

    def widen(built: Built) -> None:
        built.scheduler.jobs_window = None

    assert "beyond its window of 1" in violations_of(run(spec, widen))


def test_oracle_reports_a_missing_requirement() -> None:
    def forget(built: Built) -> None:
        built.jobs["j2"].requires(built.jobs["j1"], remove=True)

    text = violations_of(run(chain(), forget))
    assert "job 'j2' requires [], not ['j1']" in text
    assert "job 'j2' was started before its requirement(s) ['j1'] were done" in text


def test_oracle_reports_a_job_started_before_its_requirement_ended() -> None:
    trace = run(chain())
    events = trace.events
    finished = next(i for i, e in enumerate(events) if e.kind is K.FINISHED and e.job == "j1")
    started = next(i for i, e in enumerate(events) if e.kind is K.STARTED and e.job == "j2")
    early = dataclasses.replace(events[started], seq=events[finished].seq - 1)
    trace.events = sorted([*events[:started], early, *events[started + 1 :]], key=lambda e: e.seq)
    assert "'j2' was started before its requirement(s) ['j1']" in violations_of(trace)


def test_oracle_reports_a_job_run_despite_its_skip_policy() -> None:
    spec = SchedulerSpec(
        "top",
        (
            JobSpec("j1", Raise()),
            JobSpec("j2", Return(), requires=(0,), on_failed_requirement="skip"),
        ),
    )
    assert check(run(spec)) == []

    def run_anyway(built: Built) -> None:
        built.jobs["j2"].on_failed_requirement = jg.OnFailedRequirement.RUN

    assert "ran though requirement(s) ['j1'] failed" in violations_of(run(spec, run_anyway))


def test_oracle_reports_the_wrong_culprit_of_a_critical_failure() -> None:
    spec = SchedulerSpec(
        "top", (JobSpec("j1", Raise(0.01), critical=True), JobSpec("j2", Return(0.02)))
    )
    trace = run(spec)
    assert check(trace) == []
    wrong = jg.CriticalJobError(trace.built.jobs["j2"], RuntimeError("x"), trace.built.scheduler)
    trace.failures["top"] = wrong
    text = violations_of(trace)
    assert "critical job 'j1' failed first but scheduler 'top' names 'j2'" in text


def test_oracle_reports_a_start_after_a_critical_abort() -> None:
    spec = SchedulerSpec(
        "top", (JobSpec("j1", Raise(), critical=True), JobSpec("j2", Return(0.02), requires=(0,)))
    )
    trace = run(spec)
    assert check(trace) == []
    failed = next(e for e in trace.events if e.kind is K.FAILED)
    late = dataclasses.replace(failed, seq=failed.seq + 0, kind=K.STARTED, job="j2", exception=None)
    trace.events = [*trace.events, dataclasses.replace(late, seq=10_000)]
    text = violations_of(trace)
    assert "job 'j2' (in 'top') started after critical job 'j1' failed" in text


def test_oracle_reports_a_forever_job_that_finished() -> None:
    spec = SchedulerSpec(
        "top", (JobSpec("d", Serve(), forever=True), JobSpec("w", Return(0.01), requires=(0,)))
    )
    trace = run(spec)
    assert check(trace) == []
    trace.events = [
        dataclasses.replace(e, kind=K.FINISHED) if e.kind is K.CANCELLED and e.job == "d" else e
        for e in trace.events
    ]
    assert "job 'd' ended with finished but its record says cancelled" in violations_of(trace)


def test_oracle_reports_a_forever_job_cancelled_before_the_finite_jobs_ended() -> None:
    spec = SchedulerSpec("top", (JobSpec("d", Serve(), forever=True), JobSpec("w", Return(0.01))))
    trace = run(spec)
    cancelled = next(e for e in trace.events if e.kind is K.CANCELLED)
    trace.events = sorted(
        [e for e in trace.events if e is not cancelled] + [dataclasses.replace(cancelled, seq=-1)],
        key=lambda e: e.seq,
    )
    assert "was cancelled before every finite job of 'top' was done" in violations_of(trace)


def test_oracle_reports_missing_retries() -> None:
    spec = SchedulerSpec(
        "top", (JobSpec("j1", Flaky(failures=1, result=3), retry=RetrySpec(attempts=2)),)
    )
    assert check(run(spec)) == []

    def no_retry(built: Built) -> None:
        built.jobs["j1"].retry = None

    assert "should have succeeded on attempt 2" in violations_of(run(spec, no_retry))


def test_oracle_reports_a_decreasing_retry_delay() -> None:
    spec = SchedulerSpec(
        "top",
        (JobSpec("j1", Raise(), retry=RetrySpec(attempts=3, backoff=0.002, factor=2.0)),),
    )
    trace = run(spec)
    assert check(trace) == []
    trace.events = [
        dataclasses.replace(e, delay=0.001) if e.kind is K.RETRYING and e.attempt == 2 else e
        for e in trace.events
    ]
    text = violations_of(trace)
    assert "retry delay 0.001 after 0.002 decreases" in text


def test_oracle_reports_a_job_timeout_at_the_wrong_time() -> None:
    spec = SchedulerSpec("top", (JobSpec("j1", Hang(), timeout=0.0075),))
    assert check(run(spec)) == []

    def later(built: Built) -> None:
        built.jobs["j1"].timeout = 0.01

    assert "attempt 1 lasted 0.01, not 0.0075 (its timeout)" in violations_of(run(spec, later))


def test_oracle_reports_a_timeout_that_should_not_have_fired() -> None:
    spec = SchedulerSpec("top", (JobSpec("j1", Return(0.01)),), timeout=0.0291)
    trace = run(spec)
    assert check(trace) == []
    trace.failures["top"] = jg.SchedulerTimeoutError(trace.built.scheduler, 0.0291)
    trace.ok = False
    text = violations_of(trace)
    assert "reports a timeout, but every finite job ended by 0.01s" in text


def test_oracle_reports_tasks_and_bodies_left_behind() -> None:
    trace = run(chain())
    trace.leaked_tasks = 1
    trace.open_bodies = 2
    text = violations_of(trace)
    assert "1 task(s) outlived the run" in text
    assert "2 job body(ies) were still running" in text


def test_oracle_reports_a_wrong_result() -> None:
    trace = run(chain())
    trace.outcomes["j2"] = dataclasses.replace(trace.outcomes["j2"], result=99)
    assert "job 'j2' returned 99, not 2" in violations_of(trace)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (chain(), True),
        (SchedulerSpec("top", (JobSpec("j", Return()),), timeout=1.0), False),
        (SchedulerSpec("top", (JobSpec("j", Raise(), critical=True),)), False),
        (SchedulerSpec("top", (JobSpec("j", Raise(), critical=False),)), True),
        (SchedulerSpec("top", (JobSpec("d", Serve(crash_after=0.0), forever=True),)), False),
    ],
)
def test_deterministic_graphs_are_recognised(spec: SchedulerSpec, expected: bool) -> None:
    assert is_deterministic(spec) is expected


def test_summary_differs_when_an_outcome_differs() -> None:
    first = run(chain())
    second = run(chain())
    assert summary(first) == summary(second)
    second.outcomes["j1"] = dataclasses.replace(second.outcomes["j1"], outcome="failed")
    assert summary(first) != summary(second)


def test_oracle_reports_a_why_that_does_not_name_the_culprit() -> None:
    spec = SchedulerSpec("top", (JobSpec("j1", Raise(), critical=True),))
    trace = run(spec)
    assert check(trace) == []
    trace.why = "run aborted"
    assert "why() does not name the failed job" in violations_of(trace)


def test_oracle_reports_a_start_after_a_cancellation_from_outside() -> None:
    spec = SchedulerSpec("top", (JobSpec("j1", Hang()), JobSpec("j2", Return(), requires=(0,))))
    trace = run_graph(spec, backend="trio-mockclock", cancel_after=0.01)
    assert trace.cancelled_from_outside
    assert check(trace) == []
    assert trace.cancel_seq is not None
    started = next(e for e in trace.events if e.kind is K.STARTED)
    trace.events.append(dataclasses.replace(started, seq=trace.cancel_seq + 1, job="j2"))
    assert "job 'j2' started after the run was cancelled from outside" in violations_of(trace)


# -- service calls ---------------------------------------------------------------------
def calls(*behaviours: CallService) -> SchedulerSpec:
    return SchedulerSpec(
        "top", tuple(JobSpec(f"j{i}", b) for i, b in enumerate(behaviours, start=1))
    )


def test_oracle_reports_a_shared_key_computed_twice() -> None:
    def share_nothing(built: Built) -> None:
        assert built.pool is not None
        shared = built.pool.services["shared"]
        assert isinstance(shared, DeduplicatingService)
        shared.dedup_key = lambda method, kwargs: (method, kwargs["job"])  # type: ignore[method-assign]

    spec = calls(CallService("shared", key=1), CallService("shared", key=1))
    assert check(run(spec)) == []
    assert "the shared service computed key 1 twice" in violations_of(run(spec, share_nothing))


def test_oracle_reports_serial_calls_served_at_once() -> None:
    def unlimited(built: Built) -> None:
        assert built.pool is not None
        serial = built.pool.services["serial"]
        serial.__class__ = type("Unlimited", (type(serial),), {"concurrency": None})

    spec = calls(CallService("serial", 0.01), CallService("serial", 0.01))
    assert check(run(spec)) == []
    assert "the serial service served [('j1', 1), ('j2', 1)] at once" in violations_of(
        run(spec, unlimited)
    )


def plant(trace: Trace, job: str, after: str, what: str) -> None:
    """Insert a note ``what`` for ``job`` right after its first ``after`` note."""
    index = next(i for i, n in enumerate(trace.notes) if n.job == job and n.what == after)
    anchor = trace.notes[index]
    trace.notes.insert(index + 1, dataclasses.replace(anchor, what=what))


def test_oracle_reports_a_refused_call_that_reached_the_service() -> None:
    trace = run(calls(CallService("secret"), CallService("bad_args")))
    assert check(trace) == []
    plant(trace, "j1", "enter", "call")
    plant(trace, "j1", "call", "served")
    text = violations_of(trace)
    assert "job 'j1': its secret call reached the service, though it should have been" in text


def test_oracle_reports_two_calls_in_one_attempt() -> None:
    trace = run(calls(CallService("echo", 0.01, 3)))
    plant(trace, "j1", "served", "call")
    plant(trace, "j1", "call", "served")
    assert "job 'j1': attempt 1 reached the service 2 times" in violations_of(trace)


def test_oracle_reports_an_answer_without_a_call() -> None:
    trace = run(calls(CallService("echo", 0.01, 3)))
    trace.notes = [n for n in trace.notes if n.what not in ("call", "served")]
    assert "job 'j1': attempt 1 ended with 'return' without reaching the service" in (
        violations_of(trace)
    )


def test_oracle_reports_a_call_that_outlives_its_attempt() -> None:
    trace = run(calls(CallService("echo", 0.01, 3)))
    served = next(n for n in trace.notes if n.what == "served")
    trace.notes.remove(served)
    trace.notes.append(dataclasses.replace(served, seq=max(n.seq for n in trace.notes) + 1))
    text = violations_of(trace)
    assert "job 'j1': a service note of attempt 1 is outside it" in text


def test_oracle_reports_a_failing_call_that_answered() -> None:
    trace = run(calls(CallService("fail", 0.01)))
    index = next(i for i, n in enumerate(trace.notes) if n.what == "call-raised")
    trace.notes[index] = dataclasses.replace(trace.notes[index], what="served")
    assert "attempt 1 ended with 'raise' but its fail call ended 'served'" in violations_of(trace)


def test_oracle_reports_calls_left_in_flight() -> None:
    trace = run(calls(CallService("echo")))
    trace.calls_in_flight = 2
    assert "2 service call(s) still running after run()" in violations_of(trace)


def test_oracle_predicts_the_error_of_a_refused_call() -> None:
    def allow_everyone(built: Built) -> None:
        job = built.jobs["j1"]
        assert isinstance(job, jg.Job)
        recorder = Recorder(seq=itertools.count(10_000), pool=built.pool)
        job.function = make_body("j1", CallService("echo"), recorder)

    text = violations_of(run(calls(CallService("secret")), allow_everyone))
    assert "job 'j1' should have failed with AccessDeniedError on attempt 1" in text
