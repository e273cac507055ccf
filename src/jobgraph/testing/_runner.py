"""Run a drawn graph on a chosen backend and record what happened: a :class:`Trace`."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import sniffio

from jobgraph import EventKind, JobEvent, JobState, Scheduler
from jobgraph.lowlevel import abandon_journal, failure_of, record_of

from ._behaviours import CallService, Observation, Recorder
from ._services import harness_pool
from ._specs import Built, SchedulerSpec, build

__all__ = ["BACKENDS", "Outcome", "Trace", "TraceEvent", "run_graph", "run_graph_async"]

BACKENDS = ("asyncio", "trio", "trio-mockclock")
"""Where :func:`run_graph` can run a graph; ``trio-mockclock`` makes time exact and free."""

_REAL_TIME_LIMIT = 20.0  # seconds a real-time run may take before the runner gives up
_MOCK_TIME_LIMIT = 1e6  # the same under a MockClock, where time is free


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """A :class:`~jobgraph.JobEvent`, with jobs named by their drawn names.

    Attributes:
        seq: its place in the run's order (shared with the bodies' notes).
        kind: as for :class:`~jobgraph.JobEvent`.
        job: the job's drawn name.
        scheduler: the drawn name of the scheduler that ran it.
        time: as for :class:`~jobgraph.JobEvent`.
        exception: as for :class:`~jobgraph.JobEvent`.
        attempt: as for :class:`~jobgraph.JobEvent`.
        delay: as for :class:`~jobgraph.JobEvent`.
    """

    seq: int
    kind: EventKind
    job: str
    scheduler: str
    time: float
    exception: BaseException | None = None
    attempt: int = 0
    delay: float = 0.0

    def __str__(self) -> str:
        text = f"#{self.seq} t={self.time:.6f} {self.kind.value} {self.job} (in {self.scheduler})"
        if self.exception is not None:
            text += f" {type(self.exception).__name__}: {self.exception}"
        if self.kind is EventKind.RETRYING:
            text += f" attempt={self.attempt} delay={self.delay:g}"
        return text


@dataclass(frozen=True, slots=True)
class Outcome:
    """A job's record after the run, copied so that later runs cannot change it.

    Attributes:
        state: as for :class:`~jobgraph.lowlevel.JobRecord`.
        outcome: as for :class:`~jobgraph.lowlevel.JobRecord`.
        result: as for :class:`~jobgraph.lowlevel.JobRecord`.
        exception: as for :class:`~jobgraph.lowlevel.JobRecord`.
        attempts: as for :class:`~jobgraph.lowlevel.JobRecord`.
        cancelled: as for :class:`~jobgraph.lowlevel.JobRecord`.
        started_at: as for :class:`~jobgraph.lowlevel.JobRecord`.
        ended_at: as for :class:`~jobgraph.lowlevel.JobRecord`.
    """

    state: JobState
    outcome: str
    result: Any
    exception: BaseException | None
    attempts: int
    cancelled: bool
    started_at: float | None
    ended_at: float | None


@dataclass(slots=True)
class Trace:
    """Everything one run of a drawn graph left behind, for the oracle to judge.

    Attributes:
        spec: the drawn graph.
        backend: where it ran.
        exact_time: True under a MockClock (the oracle then checks times exactly).
        built: the graph that ran.
        events: the engine's events; they share one sequence counter with ``notes``,
            so together they are in the order things happened.
        notes: the bodies' observations.
        outcomes: each job's record after the run, by name.
        failures: each scheduler's ``failure``, by name.
        ok: what ``run()`` returned (None if it raised ``error``).
        why: the top scheduler's ``why()`` after the run.
        error: what ``run()`` raised, if anything.
        gave_up: the runner's own time limit ended the run.
        cancel_seq: when ``cancel_after`` cancelled the run, in the shared order.
        cancelled_from_outside: that cancellation was caught by the caller's scope.
        crash_seq: when ``crash_after`` crashed the run, in the shared order: the
            journal lost what it had not committed, and the events and notes after
            this point happened after the crash (a killed process would not have
            lived them).
        leaked_tasks: tasks still running after the run.
        open_bodies: bodies entered and never left.
        calls_in_flight: service calls still running when ``run()`` returned.
        started_at: the loop's clock when the run started.
        ended_at: the loop's clock when it ended.
    """

    spec: SchedulerSpec
    backend: str
    exact_time: bool
    built: Built
    events: list[TraceEvent] = field(default_factory=list)
    notes: list[Observation] = field(default_factory=list)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    failures: dict[str, BaseException | None] = field(default_factory=dict)
    ok: bool | None = None
    why: str = ""
    error: BaseException | None = None
    gave_up: bool = False
    cancel_seq: int | None = None
    crash_seq: int | None = None
    cancelled_from_outside: bool = False
    leaked_tasks: int = 0
    open_bodies: int = 0
    calls_in_flight: int = 0
    started_at: float = 0.0
    ended_at: float = 0.0

    def name_of(self, job: object) -> str:
        """The drawn name of a job of this run's graph.

        Args:
            job: any object.

        Returns:
            Its name, or ``'?'`` for a stranger.
        """
        return self.built.name_of(job)

    def describe(self, limit: int = 200) -> str:
        """The spec, outcome and the first ``limit`` events and notes, one per line.

        Args:
            limit: how many events and notes to show (the rest are counted).

        Returns:
            The text, for an assertion message.
        """
        lines = [f"backend {self.backend} (exact time: {self.exact_time})", f"spec: {self.spec}"]
        lines.append(f"run() returned {self.ok!r}, failure {self.failures.get(self.spec.name)!r}")
        if self.error is not None:
            lines.append(f"run() raised {self.error!r}")
        merged: list[tuple[int, str]] = [(event.seq, str(event)) for event in self.events]
        merged += [
            (
                note.seq,
                f"#{note.seq} t={note.time:.6f}   body {note.job} {note.what} #{note.attempt}"
                + ("" if note.values is None else f" {dict(note.values)}"),
            )
            for note in self.notes
        ]
        merged.sort()
        lines += [text for _, text in merged[:limit]]
        if len(merged) > limit:
            lines.append(f"... {len(merged) - limit} more")
        return "\n".join(lines)


def _backend_options(backend: str) -> tuple[str, dict[str, Any]]:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    if backend == "trio-mockclock":
        from trio.testing import MockClock  # noqa: TID251 - only trio can mock its clock

        return "trio", {"clock": MockClock(autojump_threshold=0)}
    return backend, {}


def run_graph(
    spec: SchedulerSpec,
    *,
    backend: str = "trio-mockclock",
    prepare: Callable[[Built], object] | None = None,
    cancel_after: float | None = None,
    journal: str | os.PathLike[str] | None = None,
    resume: bool = False,
    crash_after: int | None = None,
) -> Trace:
    """Build ``spec``, run it in a new event loop of ``backend`` and return the trace.

    Args:
        spec: the graph to run.
        backend: ``"asyncio"``, ``"trio"`` or ``"trio-mockclock"`` (trio with a
            ``MockClock(autojump_threshold=0)``: sleeps cost nothing and times are
            exact).
        prepare: if given, called with the built graph just before it runs (to
            subscribe more views, or to tamper with the graph when testing the oracle).
        cancel_after: if given, cancels the run from outside (the caller's cancel
            scope) after that many seconds, unless it ended before.
        journal: record the run in this journal file (see :class:`jobgraph.Journal`).
        resume: with ``journal``, resume the journal's last run of the same graph.
        crash_after: with ``journal``, crash the run as the engine delivers its
            ``crash_after``-th event (of any kind: a job scheduled, started, finished,
            restored...; nested schedulers' included): the journal loses what a
            ``kill -9`` would lose at that moment (see
            :func:`jobgraph.lowlevel.abandon_journal`), and the run is cancelled from
            outside; ``crash_seq`` says when. A run with fewer events does not crash.

    Returns:
        What the run left behind. An exception of ``run()`` is kept in the trace, not
        raised; a run longer than 20 s (real time) is cut short (``gave_up``).

    Raises:
        ValueError: ``backend`` is not one of :data:`BACKENDS`; ``crash_after`` is
            not a positive number, or is given without ``journal``.
        RuntimeError: called from inside a running event loop (use
            :func:`run_graph_async`).
    """
    name, options = _backend_options(backend)
    trace: list[Trace] = []

    async def main() -> None:
        exact = backend == "trio-mockclock"
        trace.append(
            await run_graph_async(
                spec,
                exact_time=exact,
                prepare=prepare,
                cancel_after=cancel_after,
                journal=journal,
                resume=resume,
                crash_after=crash_after,
            )
        )

    _check_crash(crash_after, journal)
    anyio.run(main, backend=name, backend_options=options)
    trace[0].backend = backend
    return trace[0]


async def run_graph_async(
    spec: SchedulerSpec,
    *,
    exact_time: bool = False,
    prepare: Callable[[Built], object] | None = None,
    cancel_after: float | None = None,
    journal: str | os.PathLike[str] | None = None,
    resume: bool = False,
    crash_after: int | None = None,
) -> Trace:
    """Build and run ``spec`` in the current event loop; see :func:`run_graph`.

    A graph with :class:`CallService` jobs gets a harness service pool, started around
    the run.

    Args:
        spec: the graph to run.
        exact_time: tell the oracle that the clock is a MockClock, so that it checks
            times exactly.
        prepare: as for :func:`run_graph`.
        cancel_after: as for :func:`run_graph`.
        journal: as for :func:`run_graph`.
        resume: as for :func:`run_graph`.
        crash_after: as for :func:`run_graph`.

    Returns:
        What the run left behind (``backend`` is the running async library's name).

    Raises:
        ValueError: ``crash_after`` is not a positive number, or is given without
            ``journal``.

    Cancellation:
        A cancellation of the caller reaches the scheduler's run (its jobs are
        cancelled as for any run), the harness pool is stopped, and the cancellation
        propagates: no trace is returned.
    """
    _check_crash(crash_after, journal)
    recorder = Recorder()
    if any(isinstance(getattr(node, "behaviour", None), CallService) for node, _ in spec.walk()):
        recorder.pool = harness_pool(recorder)
    built = build(spec, recorder)
    trace = Trace(spec, sniffio.current_async_library(), exact_time, built)
    seq = recorder.seq

    def on_event(event: JobEvent) -> None:
        trace.events.append(
            TraceEvent(
                next(seq),
                event.kind,
                built.name_of(event.job),
                built.name_of(event.scheduler),
                event.time,
                event.exception,
                event.attempt,
                event.delay,
            )
        )

    built.scheduler.subscribe(on_event)
    outside = anyio.CancelScope()
    if crash_after is not None:
        delivered = 0

        def crash(event: JobEvent) -> None:
            # called by the engine as things happen, between two steps of the loop
            nonlocal delivered
            delivered += 1
            if delivered == crash_after and abandon_journal(built.scheduler):
                trace.crash_seq = next(seq)
                outside.cancel()

        built.scheduler.subscribe(crash)
    if prepare is not None:
        prepare(built)
    before = {task.id for task in anyio.get_running_tasks()}
    limit = _MOCK_TIME_LIMIT if exact_time else _REAL_TIME_LIMIT
    trace.started_at = anyio.current_time()
    with anyio.move_on_after(limit) as guard:
        async with contextlib.AsyncExitStack() as services:
            if recorder.pool is not None:
                await services.enter_async_context(recorder.pool)
            async with anyio.create_task_group() as tg:
                with outside:
                    if cancel_after is not None:
                        tg.start_soon(_cancel_later, outside, cancel_after, trace, seq)
                    try:
                        if journal is None:
                            trace.ok = await built.scheduler.run()
                        else:
                            trace.ok = await Scheduler.run(
                                built.scheduler, journal=journal, resume=resume
                            )
                    except Exception as exc:  # noqa: BLE001 - an unexpected error is traced
                        trace.error = exc
                tg.cancel_scope.cancel()
            trace.cancelled_from_outside = outside.cancelled_caught
            if recorder.pool is not None:
                trace.calls_in_flight = recorder.pool.in_flight
    trace.ended_at = anyio.current_time()
    trace.why = built.scheduler.why()
    trace.gave_up = guard.cancelled_caught
    trace.open_bodies = recorder.open_bodies
    trace.leaked_tasks = len({task.id for task in anyio.get_running_tasks()} - before)
    trace.notes = recorder.notes
    for name, job in built.jobs.items():
        record = record_of(job)
        trace.outcomes[name] = Outcome(
            record.state,
            record.outcome,
            record.result,
            record.exception,
            record.attempts,
            record.cancelled,
            record.started_at,
            record.ended_at,
        )
        if name in built.specs and isinstance(built.specs[name], SchedulerSpec):
            trace.failures[name] = failure_of(job)  # type: ignore[arg-type]
    return trace


async def _cancel_later(
    scope: anyio.CancelScope, delay: float, trace: Trace, seq: itertools.count[int]
) -> None:
    await anyio.sleep(delay)
    trace.cancel_seq = next(seq)
    scope.cancel()


def _check_crash(crash_after: int | None, journal: object) -> None:
    if crash_after is None:
        return
    if isinstance(crash_after, bool) or not isinstance(crash_after, int) or crash_after < 1:
        raise ValueError(f"crash_after must be a number of events, 1 or more, not {crash_after!r}")
    if journal is None:
        raise ValueError("crash_after crashes a journaled run: give journal= too")
