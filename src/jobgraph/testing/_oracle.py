"""The oracle: judge a :class:`Trace` against the engine's documented semantics.

:func:`check` returns violations in plain words (an empty list when the run was
right); :func:`assert_valid` raises :class:`AssertionError` with them and the trace.
The rules, per scheduler run, in the order they are checked:

- structure: each job sits in the scheduler it was drawn in and requires exactly the
  drawn jobs (plus the one before it in a sequence);
- each job's events follow ``scheduled → started → ready? → retrying* → end`` or are
  a lone ``skipped``; it is accounted once, and its record agrees with its last event;
- no job is scheduled, started or skipped before every requirement is released: a
  finite requirement when it ended or was skipped, a forever one when it said ready
  (or when it started, if it takes no ``task_status``); a ``skip`` job starts only if
  they all succeeded, and is skipped only if one did not;
- bodies run only between their job's ``started`` and end events, once per attempt;
- what each attempt saw of its requirements when it started (``saw`` notes: through
  :class:`~jobgraph.ResultOf` placeholders or ``result()``) is each succeeded finite
  requirement's result in that run (and what its behaviour returns), and nothing of a
  requirement that did not succeed;
- the window: finite jobs between ``started`` and end never outnumber ``jobs_window``
  (forever jobs take no slot);
- a completed run ends every finite job; forever jobs end cancelled (after every
  finite job) or failed by their own exception, or never start;
- the first critical failure is the run's failure (the innermost job is named for a
  nested scheduler) and nothing starts after it, at any depth; without one, only the
  scheduler's own timeout can fail the run; a timeout fires at the exact deadline
  (under a MockClock);
- retries: as many attempts as the policy and the behaviour call for, delays as the
  policy computes them, never decreasing; per-attempt durations exact (MockClock);
  a behaviour of another job kind tells what each attempt does
  (:meth:`~jobgraph.testing.Behaviour.plan`) and what its result means
  (:meth:`~jobgraph.testing.Behaviour.value_of`);
- ``run()`` returns ``failure is None``, never raises, and leaves no task or body behind;
  ``why()`` names the failed job (or says the run succeeded);
- cancelled from outside, the run records it and starts nothing afterwards;
- service calls (:class:`~jobgraph.testing.CallService` jobs) run inside the attempt
  that made them, at most once per attempt and exactly once when the attempt got its
  answer; refused calls never reach the service; the serial service never serves two
  calls at once; the shared service computes each key at most once; no call is still
  in progress when ``run()`` returns.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from jobgraph import CriticalJobError, EventKind, JobState, JobTimeoutError, SchedulerTimeoutError
from jobgraph.services import AccessDeniedError, ServiceArgumentError

from ._behaviours import (
    Behaviour,
    BehaviourError,
    CallService,
    Flaky,
    Hang,
    Raise,
    Return,
    Serve,
    Stubborn,
)
from ._runner import Trace, TraceEvent
from ._specs import JobSpec, Node, SchedulerSpec

__all__ = ["assert_valid", "check", "is_deterministic", "summary"]

_K = EventKind
_END = (_K.FINISHED, _K.FAILED, _K.CANCELLED)
_LETTER = {
    _K.SCHEDULED: "S",
    _K.STARTED: "T",
    _K.READY: "R",
    _K.RETRYING: "Y",
    _K.FINISHED: "F",
    _K.FAILED: "X",
    _K.CANCELLED: "C",
    _K.SKIPPED: "K",
    _K.STRAGGLING: "G",
}
_EPS = 1e-9


def check(trace: Trace) -> list[str]:
    """Judge a trace against the engine's semantics.

    Args:
        trace: what a run of :func:`run_graph` left behind.

    Returns:
        Every way ``trace`` departs from those semantics, in plain words; empty when
        it does not.
    """
    return _Checker(trace).run()


def assert_valid(trace: Trace) -> None:
    """Fail when the trace departs from the engine's semantics.

    Args:
        trace: what a run of :func:`run_graph` left behind.

    Raises:
        AssertionError: listing the violations (see :func:`check`) and the trace.
    """
    violations = check(trace)
    if violations:
        listing = "\n".join(f"- {violation}" for violation in violations)
        raise AssertionError(f"{len(violations)} violation(s):\n{listing}\n{trace.describe()}")


def is_deterministic(spec: SchedulerSpec) -> bool:
    """Whether the outcome of ``spec`` cannot depend on timing or on the backend.

    That is: no timeout anywhere, no hanging job, no critical job that may fail, no
    forever job that crashes.

    Args:
        spec: a drawn graph.

    Returns:
        True if so; runs of such a graph on any backend have equal :func:`summary`.
    """
    for node, _ in spec.walk():
        if node.timeout is not None:
            return False
        if isinstance(node, JobSpec):
            behaviour = node.behaviour
            if isinstance(behaviour, Hang) or (behaviour.forever and behaviour.can_fail()):
                return False
            if node.critical and behaviour.can_fail():
                return False
    return True


def summary(trace: Trace) -> dict[str, Any]:
    """What a run produced, with the timing-dependent parts left out.

    Args:
        trace: what a run of :func:`run_graph` left behind.

    Returns:
        ``"run"``: what ``run()`` returned and the type of the top failure; then, by job
        name, its outcome, result, exception type name and attempts (forever jobs:
        whether they failed).
    """
    result: dict[str, Any] = {"run": (trace.ok, type(trace.failures.get(trace.spec.name)))}
    for name, outcome in trace.outcomes.items():
        spec = trace.built.specs[name]
        if spec.forever:
            result[name] = outcome.outcome == "failed"
        else:
            value = outcome.result
            if isinstance(spec, JobSpec) and outcome.outcome == "ok":
                value = spec.behaviour.value_of(value)
            result[name] = (
                outcome.outcome,
                value,
                type(outcome.exception).__name__,
                outcome.attempts,
            )
    return result


@dataclass(slots=True)
class _Attempt:
    """What one attempt of a leaf job should do, and after how long: ``ok``, ``raise``
    (``error``), ``timeout``, or ``hang`` (until cancelled from outside). ``duration``
    is None when it depends on other jobs (waiting for a service's turn)."""

    kind: str
    duration: float | None
    error: type[Exception] = BehaviourError


class _Checker:
    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.violations: list[str] = []
        self.specs = trace.built.specs
        self.parents = trace.built.parents
        self.exact = trace.exact_time
        self.stream: dict[str, list[TraceEvent]] = defaultdict(list)  # by scheduler
        self.own: dict[str, list[TraceEvent]] = defaultdict(list)  # by job, in its parent
        self.runs: dict[str, list[TraceEvent]] = defaultdict(list)  # RUN_* of a scheduler
        for event in trace.events:
            if event.kind is _K.NOTE:  # what a job told: no part of the engine's contract
                continue
            if event.kind in (_K.RUN_STARTED, _K.RUN_FINISHED):
                if event.job != event.scheduler:
                    self.fail(f"run event {event} names job {event.job!r}, not its scheduler")
                self.runs[event.job].append(event)
            else:
                self.stream[event.scheduler].append(event)
                if self.parents.get(event.job) != event.scheduler:
                    self.fail(f"event {event} comes from a scheduler that does not hold the job")
                self.own[event.job].append(event)
        self.notes = defaultdict(list)
        for note in trace.notes:
            self.notes[note.job].append(note)

    def fail(self, text: str) -> None:
        self.violations.append(text)

    def run(self) -> list[str]:
        trace = self.trace
        top = trace.spec.name
        if trace.gave_up:
            self.fail("the run did not end: the runner gave up waiting")
        if trace.error is not None:
            self.fail(f"run() raised {trace.error!r} instead of returning a bool")
        if trace.leaked_tasks:
            self.fail(f"{trace.leaked_tasks} task(s) outlived the run")
        if trace.open_bodies:
            self.fail(f"{trace.open_bodies} job body(ies) were still running after run() returned")
        if self.violations:
            return self.violations  # nothing else can be trusted
        failure = trace.failures.get(top)
        if trace.ok is not None and trace.ok != (failure is None):
            self.fail(f"run() returned {trace.ok} but the failure is {failure!r}")
        if (
            isinstance(failure, CriticalJobError)
            and not trace.cancelled_from_outside  # then why() says that, rightly
            and repr(failure.job.label) not in trace.why
        ):
            self.fail(f"why() does not name the failed job: {trace.why!r}")
        if failure is None and trace.ok and "succeeded" not in trace.why:
            self.fail(f"why() does not say that the run succeeded: {trace.why!r}")
        if trace.cancelled_from_outside:
            if not trace.outcomes[top].cancelled:
                self.fail("the run was cancelled from outside but its record does not say so")
            late = [
                e
                for e in trace.events
                if e.kind is _K.STARTED
                and trace.cancel_seq is not None
                and e.seq > trace.cancel_seq
            ]
            if late:
                self.fail(f"job {late[0].job!r} started after the run was cancelled from outside")
        self.check_structure()
        self.check_services()
        for name, spec in self.specs.items():
            if name != top:
                self.check_job(name, spec)
        for name, spec in self.specs.items():
            if isinstance(spec, SchedulerSpec):
                self.check_scheduler(name, spec)
        return self.violations

    # -- the shape that was built ------------------------------------------------------
    def check_structure(self) -> None:
        built = self.trace.built
        names = [built.name_of(job) for job in built.scheduler.iterate_jobs(scan_schedulers=True)]
        drawn = [node.name for node, parent in self.trace.spec.walk() if parent is not None]
        if sorted(names) != sorted(drawn) or len(set(names)) != len(names):
            self.fail(f"iterate_jobs() yields {sorted(names)}, but the graph has {sorted(drawn)}")
        for name, spec in self.specs.items():
            if not isinstance(spec, SchedulerSpec):
                continue
            scheduler = built.jobs[name]
            held = [built.name_of(job) for job in scheduler.jobs]  # type: ignore[attr-defined]
            children = [child.name for child in spec.children]
            if held != children:
                self.fail(f"scheduler {name!r} holds {held}, but {children} were added, in order")
            for index, child in enumerate(spec.children):
                job = built.jobs[child.name]
                if job.scheduler is not scheduler:
                    self.fail(f"job {child.name!r} does not know it belongs to {name!r}")
                want = {spec.children[i].name for i in spec.expected_requirements(index)}
                got = {built.name_of(r) for r in job.requirements}
                if want != got:
                    self.fail(f"job {child.name!r} requires {sorted(got)}, not {sorted(want)}")

    # -- one job ---------------------------------------------------------------------
    def check_job(self, name: str, spec: Node) -> None:
        events = self.own[name]
        word = "".join(_LETTER[event.kind] for event in events)
        outcome = self.trace.outcomes[name]
        if not _grammatical(word):
            self.fail(f"job {name!r} has events in an impossible order: {word}")
            return
        if "R" in word and not (isinstance(spec, JobSpec) and isinstance(spec.behaviour, Serve)):
            self.fail(f"job {name!r} said ready but it is not a forever job taking task_status")
        retry = spec.retry if isinstance(spec, JobSpec) else None
        if "Y" in word and retry is None:
            self.fail(f"job {name!r} was retried without a retry policy")
        ends = [event for event in events if event.kind in (*_END, _K.SKIPPED)]
        started = "T" in word
        notes = self.notes[name]
        enters = [note for note in notes if note.what == "enter"]
        if started and not ends:
            self.fail(f"job {name!r} started but never ended (its state is {outcome.state})")
        if not ends:
            expected = JobState.SCHEDULED if "S" in word else JobState.IDLE
            if outcome.state is not expected:
                self.fail(f"job {name!r} is {outcome.state} but its events say {expected}")
            if enters:
                self.fail(f"job {name!r} ran its body but no started event was emitted")
            return
        end = ends[0]
        self.check_record(name, spec, end, outcome)
        if isinstance(spec, JobSpec):
            self.check_body(name, spec=spec, events=events, notes=notes, end=end, outcome=outcome)

    def check_record(self, name: str, spec: Node, end: TraceEvent, outcome: Any) -> None:
        # on a real clock the engine reads the time apart for the record and the event
        if self.exact and end.kind is not _K.SKIPPED and outcome.ended_at != end.time:
            self.fail(
                f"job {name!r} ended at {outcome.ended_at} by its record, {end.time} by its event"
            )
        started = next((e for e in self.own[name] if e.kind is _K.STARTED), None)
        if self.exact and started is not None and outcome.started_at != started.time:
            self.fail(
                f"job {name!r} started at {outcome.started_at} by its record, "
                f"{started.time} by its event"
            )
        expected = {
            _K.FINISHED: "ok",
            _K.FAILED: "failed",
            _K.CANCELLED: "cancelled",
            _K.SKIPPED: "skipped",
        }[end.kind]
        if outcome.outcome != expected:
            self.fail(f"job {name!r} ended with {end.kind} but its record says {outcome.outcome}")
            return
        if end.kind is _K.FAILED and outcome.exception is not end.exception:
            self.fail(f"job {name!r}: the failed event and the record disagree on the exception")
        if end.kind is _K.FINISHED:
            if isinstance(spec, SchedulerSpec):
                want, got = True, outcome.result
            else:
                want, got = spec.behaviour.value(), spec.behaviour.value_of(outcome.result)
            if got != want:
                self.fail(f"job {name!r} returned {got!r}, not {want!r}")
        nested_failure = self.trace.failures.get(name)
        if (
            isinstance(spec, SchedulerSpec)
            and end.kind is _K.FAILED
            and outcome.exception is not nested_failure
        ):
            self.fail(f"nested scheduler {name!r} raised something other than its failure")
        if spec.forever and end.kind not in (_K.CANCELLED, _K.SKIPPED):
            behaviour = spec.behaviour if isinstance(spec, JobSpec) else None
            crashed = (
                end.kind is _K.FAILED
                and behaviour is not None
                and behaviour.can_fail()
                and isinstance(end.exception, BehaviourError)
                and end.exception.job == name
            )
            if not crashed:
                self.fail(f"forever job {name!r} ended with {end.kind}, not cancelled")

    def check_body(
        self,
        name: str,
        *,
        spec: JobSpec,
        events: list[TraceEvent],
        notes: list[Any],
        end: TraceEvent,
        outcome: Any,
    ) -> None:
        enters = [note for note in notes if note.what == "enter"]
        exits = [note for note in notes if note.what == "exit"]
        if end.kind is _K.SKIPPED:
            if notes:
                self.fail(f"skipped job {name!r} ran its body")
            return
        start = next(event for event in events if event.kind is _K.STARTED)
        if any(note.seq < start.seq or note.seq > end.seq for note in notes):
            self.fail(f"the body of job {name!r} ran outside its started..ended events")
        if len(exits) != len(enters):
            self.fail(f"job {name!r}: {len(enters)} attempt(s) entered, {len(exits)} exited")
        if len(enters) != outcome.attempts:
            self.fail(f"job {name!r} records {outcome.attempts} attempt(s), ran {len(enters)}")
        if isinstance(spec.behaviour, CallService):
            self.check_calls(name, spec.behaviour, notes)
        self.check_seen(name, spec, notes)
        if end.kind is _K.CANCELLED:
            return
        retries = [event for event in events if event.kind is _K.RETRYING]
        self.check_retries(name, spec, retries, enters, outcome)
        if not spec.forever:
            self.check_prediction(
                name, spec=spec, end=end, enters=enters, exits=exits, outcome=outcome
            )

    def check_seen(self, name: str, spec: JobSpec, notes: list[Any]) -> None:
        """What each attempt saw of its requirements: their results in this run."""
        parent = self.specs[self.parents[name]]
        assert isinstance(parent, SchedulerSpec)
        index = next(i for i, child in enumerate(parent.children) if child.name == name)
        required = [parent.children[i] for i in sorted(parent.expected_requirements(index))]
        if not required:
            return
        saws = {note.attempt: note for note in notes if note.what == "saw"}
        # the jobs of this package's behaviours note what they saw on every attempt
        noting = type(spec.behaviour).make_job is Behaviour.make_job
        for enter in (note for note in notes if note.what == "enter"):
            saw = saws.get(enter.attempt)
            if saw is None:
                if noting:
                    self.fail(f"job {name!r}: attempt {enter.attempt} noted nothing it saw")
                continue
            values = saw.values or {}
            for other in required:
                outcome = self.trace.outcomes[other.name]
                if other.name not in values:
                    if outcome.outcome == "ok" and not other.forever:
                        self.fail(
                            f"job {name!r}: attempt {enter.attempt} did not see the result of "
                            f"its requirement {other.name!r}, which succeeded"
                        )
                    continue
                value = values[other.name]
                if outcome.outcome != "ok":
                    self.fail(
                        f"job {name!r}: attempt {enter.attempt} saw {value!r} from its "
                        f"requirement {other.name!r}, which is {outcome.outcome}"
                    )
                elif value != outcome.result:
                    self.fail(
                        f"job {name!r}: attempt {enter.attempt} saw {value!r} from its "
                        f"requirement {other.name!r}, which returned {outcome.result!r}"
                    )
                elif (
                    isinstance(other, JobSpec)
                    and other.behaviour.value_of(value) != other.behaviour.value()
                ):
                    self.fail(
                        f"job {name!r}: attempt {enter.attempt} saw {value!r} from its "
                        f"requirement {other.name!r}, whose behaviour returns "
                        f"{other.behaviour.value()!r}"
                    )
            strangers = sorted(set(values) - {other.name for other in required})
            if strangers:
                self.fail(f"job {name!r} saw results of {strangers}, which it does not require")

    def check_calls(self, name: str, behaviour: CallService, notes: list[Any]) -> None:
        """The service notes of each attempt of a job that calls a service."""
        attempts: dict[int, list[Any]] = defaultdict(list)
        for note in notes:
            attempts[note.attempt].append(note)
        method = behaviour.method
        answer = {"echo": "served", "serial": "served", "fail": "call-raised"}.get(method)
        for number, mine in sorted(attempts.items()):
            whats = [note.what for note in mine]
            if not whats or whats[0] != "enter" or whats[-1] != "exit":
                self.fail(f"job {name!r}: a service note of attempt {number} is outside it")
                continue
            calls = [i for i, what in enumerate(whats) if what == "call"]
            if len(calls) > 1:
                self.fail(f"job {name!r}: attempt {number} reached the service {len(calls)} times")
                continue
            ended = whats[-2] if len(whats) >= 2 else ""
            if method in ("secret", "bad_args"):
                if calls:
                    self.fail(
                        f"job {name!r}: its {method} call reached the service, "
                        "though it should have been refused"
                    )
                continue
            if calls:
                after = whats[calls[0] + 1 :]
                if not after or after[0] not in ("served", "call-raised", "call-cancelled"):
                    self.fail(
                        f"job {name!r}: the service call of attempt {number} did not end "
                        f"before the attempt did ({whats})"
                    )
                elif answer is not None and ended in ("return", "raise") and after[0] != answer:
                    self.fail(
                        f"job {name!r}: attempt {number} ended with {ended!r} but its "
                        f"{method} call ended {after[0]!r}, not {answer!r}"
                    )
            elif answer is not None and ended in ("return", "raise"):
                self.fail(
                    f"job {name!r}: attempt {number} ended with {ended!r} without "
                    f"reaching the service"
                )

    def check_services(self) -> None:
        """Across jobs: one serial call at a time; each shared key computed once."""
        trace = self.trace
        if trace.calls_in_flight:
            self.fail(f"{trace.calls_in_flight} service call(s) still running after run()")
        serial: set[tuple[str, int]] = set()
        computed: dict[int, str] = {}
        for note in trace.notes:
            spec = self.specs.get(note.job)
            if not isinstance(spec, JobSpec) or not isinstance(spec.behaviour, CallService):
                continue
            method = spec.behaviour.method
            if method == "serial":
                if note.what == "call":
                    serial.add((note.job, note.attempt))
                    if len(serial) > 1:
                        self.fail(
                            f"the serial service served {sorted(serial)} at once (t={note.time:g})"
                        )
                        return
                elif note.what in ("served", "call-raised", "call-cancelled"):
                    serial.discard((note.job, note.attempt))
            elif method == "shared" and note.what == "served":
                key = spec.behaviour.key
                if key in computed:
                    self.fail(
                        f"the shared service computed key {key} twice: for {computed[key]!r} "
                        f"and for {note.job!r}"
                    )
                computed.setdefault(key, note.job)

    def check_retries(
        self, name: str, spec: JobSpec, retries: list[TraceEvent], enters: list[Any], outcome: Any
    ) -> None:
        policy = spec.retry
        allowed = 1 if policy is None else policy.attempts
        if outcome.attempts > allowed:
            self.fail(f"job {name!r} ran {outcome.attempts} attempts, its policy allows {allowed}")
        if len(retries) != outcome.attempts - 1:
            self.fail(
                f"job {name!r} ended after {outcome.attempts} attempt(s) "
                f"but {len(retries)} retry event(s)"
            )
            return
        previous = 0.0
        retry = None if policy is None else policy.build()
        for number, event in enumerate(retries, start=1):
            if event.attempt != number:
                self.fail(f"job {name!r}: retry event #{number} says attempt {event.attempt}")
            if event.delay < previous - _EPS:
                self.fail(f"job {name!r}: retry delay {event.delay} after {previous} decreases")
            if retry is not None:
                base = dataclasses.replace(retry, jitter=0.0).delay(number)
                low = max(previous, base)
                high = max(previous, base * (1 + retry.jitter))
                if not low - _EPS <= event.delay <= high + _EPS:
                    self.fail(
                        f"job {name!r}: retry delay {event.delay} after attempt {number} "
                        f"is not in [{low}, {high}]"
                    )
            if self.exact and number < len(enters):
                waited = enters[number].time - event.time
                if abs(waited - event.delay) > _EPS:
                    self.fail(
                        f"job {name!r} waited {waited} before attempt {number + 1}, "
                        f"not {event.delay}"
                    )
            previous = event.delay

    def check_prediction(
        self,
        name: str,
        *,
        spec: JobSpec,
        end: TraceEvent,
        enters: list[Any],
        exits: list[Any],
        outcome: Any,
    ) -> None:
        if spec.timeout is not None and not self.exact:
            return  # on a real clock a loaded machine may turn any attempt into a timeout
        policy = spec.retry
        allowed = 1 if policy is None else policy.attempts
        kinds = () if policy is None else policy.exception_types()
        for number in range(1, allowed + 1):
            attempt = _attempt(spec.behaviour, number, spec.timeout)
            if attempt is None:
                return  # a tie: either way is right
            if self.exact and number <= len(enters) and number <= len(exits):
                took = exits[number - 1].time - enters[number - 1].time
                if (
                    attempt.kind != "hang"
                    and attempt.duration is not None
                    and abs(took - attempt.duration) > _EPS
                ):
                    self.fail(
                        f"job {name!r}: attempt {number} lasted {took}, not {attempt.duration}"
                        + (" (its timeout)" if attempt.kind == "timeout" else "")
                    )
            if attempt.kind == "hang":
                return  # cancelled from outside; nothing to predict
            if attempt.kind == "ok":
                if end.kind is not _K.FINISHED or outcome.attempts != number:
                    self.fail(
                        f"job {name!r} should have succeeded on attempt {number}; it ended "
                        f"{outcome.outcome} after {outcome.attempts}"
                    )
                return
            error = attempt.error if attempt.kind == "raise" else JobTimeoutError
            if number == allowed or not issubclass(error, kinds):
                if (
                    end.kind is not _K.FAILED
                    or not isinstance(end.exception, error)
                    or outcome.attempts != number
                ):
                    self.fail(
                        f"job {name!r} should have failed with {error.__name__} on attempt "
                        f"{number}; it ended {outcome.outcome} ({end.exception!r}) after "
                        f"{outcome.attempts}"
                    )
                return

    # -- one scheduler run ----------------------------------------------------------------
    def check_scheduler(self, name: str, spec: SchedulerSpec) -> None:
        runs = self.runs[name]
        top = name == self.trace.spec.name
        kinds = [event.kind for event in runs]
        ran = top or any(event.kind is _K.STARTED for event in self.own[name])
        if kinds != ([_K.RUN_STARTED, _K.RUN_FINISHED] if ran else []):
            self.fail(f"scheduler {name!r} has run events {[k.value for k in kinds]}")
            return
        if not ran:
            if self.stream[name]:
                self.fail(f"scheduler {name!r} never ran, yet its jobs have events")
            return
        begin, finish = runs
        stream = self.stream[name]
        failure = self.trace.failures.get(name)
        if finish.exception is not failure:
            self.fail(
                f"scheduler {name!r}: run_finished carries {finish.exception!r}, "
                f"not its failure {failure!r}"
            )
        if top:
            completed = self.trace.ok is True
        else:
            ends = [e for e in self.own[name] if e.kind in _END]
            completed = bool(ends) and ends[0].kind is _K.FINISHED
        self.check_requirements(name, spec, stream)
        self.check_window(name, spec, stream)
        self.check_failure(name, spec, stream, failure, completed)
        end_of: dict[str, TraceEvent] = {}
        for event in stream:
            if event.kind in (*_END, _K.SKIPPED):
                end_of.setdefault(event.job, event)
        if completed:
            finite_ends = []
            for child in spec.children:
                if child.forever:
                    continue
                end = end_of.get(child.name)
                if end is None or end.kind is _K.CANCELLED:
                    self.fail(
                        f"scheduler {name!r} completed but job {child.name!r} "
                        f"did not end ({self.trace.outcomes[child.name].outcome})"
                    )
                else:
                    finite_ends.append(end)
            last = max((event.seq for event in finite_ends), default=-1)
            for child in spec.children:
                end = end_of.get(child.name)
                cancelled = child.forever and end is not None and end.kind is _K.CANCELLED
                if cancelled and end is not None and end.seq < last:
                    self.fail(
                        f"forever job {child.name!r} was cancelled before every "
                        f"finite job of {name!r} was done"
                    )
        if spec.timeout is not None and self.exact:
            deadline = begin.time + spec.timeout
            finite = [c.name for c in spec.children if not c.forever]
            last_end = max(
                (end_of[c].time if c in end_of else float("inf") for c in finite), default=0.0
            )
            if isinstance(failure, SchedulerTimeoutError):
                if last_end < deadline - _EPS:
                    self.fail(
                        f"scheduler {name!r} reports a timeout, but every finite job "
                        f"ended by {last_end - begin.time:g}s < {spec.timeout:g}s"
                    )
                if finish.time < deadline - _EPS:
                    self.fail(
                        f"scheduler {name!r} timed out at {finish.time - begin.time:g}s, "
                        f"before its timeout {spec.timeout:g}s"
                    )
                late = [
                    e
                    for e in self.subtree_events(name)
                    if e.kind is _K.STARTED and e.time > deadline + _EPS
                ]
                if late:
                    self.fail(f"job {late[0].job!r} started after scheduler {name!r} timed out")
                self.check_cancelled_at(name, deadline)
            elif failure is None and completed and last_end > deadline + _EPS:
                self.fail(
                    f"scheduler {name!r} ran {last_end - begin.time:g}s, past its "
                    f"timeout {spec.timeout:g}s, without reporting a timeout"
                )

    def check_cancelled_at(self, name: str, deadline: float) -> None:
        """Bodies that do not shield themselves are cancelled at the deadline, not later."""
        spec = self.specs[name]
        assert isinstance(spec, SchedulerSpec)
        for node, _ in spec.walk():
            if not isinstance(node, JobSpec) or not isinstance(
                node.behaviour, Return | Raise | Flaky | Hang | CallService
            ):
                continue
            for note in self.notes[node.name]:
                if note.what == "cancelled" and note.time > deadline + _EPS:
                    self.fail(
                        f"job {node.name!r} was cancelled at {note.time:g}, after the "
                        f"deadline of scheduler {name!r} ({deadline:g})"
                    )

    def subtree_events(self, name: str) -> list[TraceEvent]:
        spec = self.specs[name]
        assert isinstance(spec, SchedulerSpec)
        inside = {node.name for node, _ in spec.walk() if isinstance(node, SchedulerSpec)}
        return [event for event in self.trace.events if event.scheduler in inside]

    def check_requirements(self, name: str, spec: SchedulerSpec, stream: list[TraceEvent]) -> None:
        released: dict[str, bool] = {}  # child name -> released with success?
        index = {child.name: i for i, child in enumerate(spec.children)}
        for event in stream:
            child = spec.children[index[event.job]]
            kind = event.kind
            if kind in (_K.SCHEDULED, _K.STARTED, _K.SKIPPED):
                waiting = [
                    spec.children[i].name
                    for i in spec.expected_requirements(index[event.job])
                    if spec.children[i].name not in released
                ]
                if waiting:
                    self.fail(
                        f"job {event.job!r} was {kind.value} before its requirement(s) "
                        f"{waiting} were done"
                    )
                failed = [
                    spec.children[i].name
                    for i in spec.expected_requirements(index[event.job])
                    if released.get(spec.children[i].name) is False
                ]
                if kind is _K.SKIPPED and (child.on_failed_requirement != "skip" or not failed):
                    self.fail(
                        f"job {event.job!r} was skipped though "
                        + (
                            "its policy is 'run'"
                            if child.on_failed_requirement != "skip"
                            else "no requirement failed"
                        )
                    )
                if kind is _K.STARTED and failed and child.on_failed_requirement == "skip":
                    self.fail(
                        f"job {event.job!r} ran though requirement(s) {failed} failed "
                        "and its policy is 'skip'"
                    )
            if event.job in released:
                continue
            if kind is _K.FINISHED or (kind is _K.READY and child.forever):
                released[event.job] = True
            elif kind in (_K.FAILED, _K.SKIPPED):
                released[event.job] = False
            elif kind is _K.STARTED and child.forever and not _signals_ready(child):
                released[event.job] = True

    def check_window(self, name: str, spec: SchedulerSpec, stream: list[TraceEvent]) -> None:
        window = spec.jobs_window
        if window is None:
            return
        forever = {child.name for child in spec.children if child.forever}
        running: set[str] = set()
        for event in stream:
            if event.job in forever:
                continue
            if event.kind is _K.STARTED:
                running.add(event.job)
                if len(running) > window:
                    self.fail(
                        f"scheduler {name!r} ran {sorted(running)} at once, "
                        f"beyond its window of {window}"
                    )
                    return
            elif event.kind in _END:
                running.discard(event.job)

    def check_failure(
        self,
        name: str,
        spec: SchedulerSpec,
        stream: list[TraceEvent],
        failure: BaseException | None,
        completed: bool,
    ) -> None:
        critical = {child.name for child in spec.children if child.critical}
        first = next((e for e in stream if e.kind is _K.FAILED and e.job in critical), None)
        if first is None:
            if failure is not None and not (
                isinstance(failure, SchedulerTimeoutError) and spec.timeout is not None
            ):
                self.fail(
                    f"scheduler {name!r} failed with {failure!r} though no critical job "
                    "failed and it has no timeout"
                )
            if (
                isinstance(failure, SchedulerTimeoutError)
                and self.trace.name_of(failure.scheduler) != name
            ):
                self.fail(f"scheduler {name!r} reports another scheduler's timeout: {failure}")
            return
        culprit = self.specs[first.job]
        if isinstance(culprit, SchedulerSpec) and isinstance(
            self.trace.failures.get(first.job), CriticalJobError
        ):
            if failure is not self.trace.failures.get(first.job):
                self.fail(
                    f"scheduler {name!r} reports {failure!r}, not the failure of "
                    f"nested scheduler {first.job!r}, which names the innermost job"
                )
        elif not isinstance(failure, CriticalJobError):
            self.fail(
                f"critical job {first.job!r} failed but scheduler {name!r} reports {failure!r}"
            )
        elif (
            self.trace.name_of(failure.job) != first.job or failure.exception is not first.exception
        ):
            self.fail(
                f"critical job {first.job!r} failed first but scheduler {name!r} "
                f"names {self.trace.name_of(failure.job)!r}"
            )
        if completed:
            self.fail(f"scheduler {name!r} completed though critical job {first.job!r} failed")
        late = [e for e in self.subtree_events(name) if e.kind is _K.STARTED and e.seq > first.seq]
        if late:
            self.fail(
                f"job {late[0].job!r} (in {late[0].scheduler!r}) started after critical "
                f"job {first.job!r} failed and aborted {name!r}"
            )


def _signals_ready(spec: Node) -> bool:
    return (
        isinstance(spec, JobSpec)
        and isinstance(spec.behaviour, Serve)
        and (spec.behaviour.signals_ready)
    )


_GRAMMAR = re.compile(r"K?|S(T[RYG]*[FXC]?G*)?")


def _grammatical(word: str) -> bool:
    """Whether a job's events (as letters) are in a possible order: ``K`` alone, or
    ``S``, then optionally ``T``, ready (once), retries and straggling, one end."""
    return _GRAMMAR.fullmatch(word) is not None and word.count("R") <= 1


def _attempt(  # noqa: PLR0911 - one case per kind of behaviour
    behaviour: Behaviour, number: int, timeout: float | None
) -> _Attempt | None:
    """What attempt ``number`` of a body does under a per-attempt ``timeout``."""
    if isinstance(behaviour, Hang):
        return _Attempt("hang", 0.0) if timeout is None else _Attempt("timeout", timeout)
    error: type[Exception] = BehaviourError
    if isinstance(behaviour, CallService):
        method = behaviour.method
        if method in ("serial", "shared"):  # waits for its turn, or for another job
            return _Attempt("ok", None) if timeout is None else None
        shielded, total, kind = 0.0, behaviour.after, "ok"
        if method == "fail":
            kind = "raise"
        elif method in ("secret", "bad_args"):
            total, kind = 0.0, "raise"
            error = AccessDeniedError if method == "secret" else ServiceArgumentError
    elif isinstance(behaviour, Stubborn):
        shielded, total, kind = behaviour.shielded, behaviour.shielded + behaviour.after, "ok"
    elif isinstance(behaviour, Return):
        shielded, total, kind = 0.0, behaviour.after, "ok"
    elif isinstance(behaviour, Raise):
        shielded, total, kind = 0.0, behaviour.after, "raise"
    elif isinstance(behaviour, Flaky):
        shielded, total = 0.0, behaviour.after
        kind = "raise" if number <= behaviour.failures else "ok"
    else:  # another job kind: its own plan (Behaviour.plan)
        plan = behaviour.plan(number)
        if plan is None:
            return None
        if plan.kind == "hang":
            return _Attempt("hang", 0.0) if timeout is None else _Attempt("timeout", timeout)
        if plan.duration is None:  # unknown in advance: no timeout can be predicted
            return _Attempt(plan.kind, None, plan.error) if timeout is None else None
        shielded, total, kind, error = plan.shielded, plan.duration, plan.kind, plan.error
    if timeout is None or total < timeout - _EPS:
        return _Attempt(kind, total, error)
    if abs(total - timeout) <= _EPS or abs(shielded - timeout) <= _EPS:
        return None
    return _Attempt("timeout", max(timeout, shielded))
