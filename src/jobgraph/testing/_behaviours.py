"""What a drawn job does when it runs, and the notes it leaves while doing it.

A behaviour is plain data (a frozen dataclass), so hypothesis can draw it, print it
and shrink it. :func:`make_body` turns one into the async callable a
:class:`~jobgraph.Job` runs; the body writes :class:`Observation` entries into a
:class:`Recorder` (entered, ready, returned, raised, cancelled, exited), which the
oracle compares with the engine's own events.

The seam for other job kinds: a :class:`Behaviour` subclass overrides
:meth:`Behaviour.make_job` to build its job as any kind (an ``SshJob``...), wraps
each attempt in :meth:`Recorder.observe` so that the oracle sees it, and tells the
oracle what to expect with :meth:`Behaviour.value_of` and :meth:`Behaviour.plan`.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio

from jobgraph import AbstractJob, Job, ResultOf, TaskStatusLike

if TYPE_CHECKING:
    from jobgraph.services import ServicePool

_T = TypeVar("_T")

__all__ = [
    "Behaviour",
    "BehaviourError",
    "CallService",
    "Flaky",
    "Hang",
    "Observation",
    "Plan",
    "Raise",
    "Recorder",
    "Return",
    "Serve",
    "Stubborn",
    "make_body",
]


class BehaviourError(Exception):
    """What a drawn job raises on purpose; it names the job and the attempt.

    Args:
        job: the job's label (attribute ``job``).
        attempt: the attempt that failed, from 1 (attribute ``attempt``).
    """

    def __init__(self, job: str, attempt: int) -> None:
        self.job = job
        self.attempt = attempt
        super().__init__(f"job {job!r} failed on purpose (attempt {attempt})")


@dataclass(frozen=True, slots=True)
class Observation:
    """One note left by a running body.

    Attributes:
        seq: orders notes and engine events together (shared counter).
        time: the event loop's clock.
        job: the job's label.
        what: ``enter``, ``saw``, ``ready``, ``return``, ``raise``, ``cancelled``,
            ``exit`` (service calls add ``call``, ``served`` and ``call-*`` notes).
        attempt: the attempt, from 1.
        values: for a ``saw`` note, what the attempt saw of its requirements when it
            started: ``{requirement's name: its result}``, for the requirements that had
            succeeded (restored from a journal included); None for other notes.
    """

    seq: int
    time: float
    job: str
    what: str  # enter, saw, ready, return, raise, cancelled, exit; call, served, call-*
    attempt: int
    values: Mapping[str, Any] | None = None


@dataclass(slots=True)
class Recorder:
    """Collects the observations of every body of one run, in order.

    Attributes:
        seq: shared with the runner's event subscriber, so that notes and engine events
            of the same run can be put in one total order.
        notes: the observations so far.
        attempts: how many attempts each job has entered.
        open_bodies: bodies entered and not yet left.
        pool: the running service pool that :class:`CallService` bodies call (the
            runner provides one).
        requirements: each job's direct requirements as ``(name, job)`` pairs (those a
            sequence adds included), by job name; :func:`~jobgraph.testing.build`
            fills it, and the bodies :func:`make_body` makes read them when they start
            (see :meth:`saw`).
    """

    seq: itertools.count[int] = field(default_factory=itertools.count)
    notes: list[Observation] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    open_bodies: int = 0
    pool: ServicePool | None = None
    requirements: dict[str, tuple[tuple[str, AbstractJob], ...]] = field(default_factory=dict)

    def enter(self, job: str) -> int:
        """Note that a body of ``job`` starts a new attempt.

        Args:
            job: the job's label.

        Returns:
            The attempt's number, from 1.
        """
        attempt = self.attempts.get(job, 0) + 1
        self.attempts[job] = attempt
        self.open_bodies += 1
        self.note(job, "enter", attempt)
        return attempt

    def leave(self, job: str, attempt: int) -> None:
        """Note that a body of ``job`` ended, whatever the way.

        Args:
            job: the job's label.
            attempt: the attempt that ends.
        """
        self.open_bodies -= 1
        self.note(job, "exit", attempt)

    def note(
        self, job: str, what: str, attempt: int, values: Mapping[str, Any] | None = None
    ) -> None:
        """Add one :class:`Observation`, stamped with the next ``seq`` and the loop's clock.

        Args:
            job: the job's label.
            what: what happened (see :class:`Observation`).
            attempt: the attempt concerned.
            values: what the note carries (a ``saw`` note: the requirements' results).
        """
        self.notes.append(
            Observation(next(self.seq), anyio.current_time(), job, what, attempt, values)
        )

    def saw(self, job: str, attempt: int, given: Mapping[str, Any] | None = None) -> None:
        """Note ``saw``: what attempt ``attempt`` of ``job`` sees of its requirements.

        A requirement's value is taken from ``given`` (the job's arguments, where the
        engine resolved :class:`~jobgraph.ResultOf` placeholders) or else read as users
        do, with ``requirement.result()``. Only requirements that succeeded are seen (a
        job may run after a failed one, or while a forever one serves). A job without
        requirements notes nothing.

        Args:
            job: the job's name.
            attempt: the attempt that starts.
            given: values the engine resolved for it, by requirement name; ``_UNSEEN``
                for a requirement without a result.
        """
        requirements = self.requirements.get(job)
        if not requirements:
            return
        values: dict[str, Any] = {}
        for name, requirement in requirements:
            if given is not None and name in given:
                value = given[name]
                if value is not _UNSEEN:
                    values[name] = value
            elif requirement.ok:
                values[name] = requirement.result()
        self.note(job, "saw", attempt, values)

    async def observe(self, job: str, act: Callable[[int], Awaitable[_T]]) -> _T:
        """Run one attempt of ``job`` as ``await act(attempt)``, taking the notes the
        oracle reads: ``enter``, then ``return``, ``raise`` or ``cancelled``, then ``exit``.

        Every job of a drawn graph wraps each attempt in it, whatever its kind: the
        bodies :func:`make_body` makes do, and so must the jobs that a
        :meth:`Behaviour.make_job` builds (in their ``run()``).

        Args:
            job: the job's label (its drawn name).
            act: does the attempt; it gets the attempt's number, from 1.

        Returns:
            What ``act`` returned.

        Raises:
            Exception: whatever ``act`` raised (noted ``raise``).

        Cancellation:
            Noted ``cancelled``, then ``exit``; the cancellation propagates.
        """
        attempt = self.enter(job)
        try:
            result = await act(attempt)
        except anyio.get_cancelled_exc_class():
            self.note(job, "cancelled", attempt)
            raise
        except Exception:
            self.note(job, "raise", attempt)
            raise
        else:
            self.note(job, "return", attempt)
            return result
        finally:
            self.leave(job, attempt)


@dataclass(frozen=True, slots=True)
class Plan:
    """What one attempt of a behaviour does, as :meth:`Behaviour.plan` tells the oracle.

    Attributes:
        kind: ``"ok"`` (returns :meth:`Behaviour.value`), ``"raise"`` (raises ``error``)
            or ``"hang"`` (runs until cancelled).
        duration: how long the attempt takes, in seconds of the loop's clock; None when
            it cannot be known in advance (real I/O, waiting for other jobs): then the
            oracle predicts no per-job timeout and checks no duration.
        error: the exception class a ``"raise"`` attempt fails its job with.
        shielded: seconds at the start of the attempt that ignore cancellation.
    """

    kind: Literal["ok", "raise", "hang"]
    duration: float | None = 0.0
    error: type[Exception] = Exception
    shielded: float = 0.0


class Behaviour:
    """Base of the drawn behaviours. ``forever`` says whether it suits a forever job."""

    __slots__ = ()
    forever: bool = False

    def can_fail(self) -> bool:
        """Whether the body may raise on its own (not counting timeouts).

        Returns:
            True for behaviours that raise (the base class: False).
        """
        return False

    def value(self) -> Any:
        """What the body returns when it completes.

        Returns:
            The result, or None if it never completes (the base class: None).
        """
        return None

    async def act(self, job: str, attempt: int, status: TaskStatusLike | None) -> Any:
        """Do what the behaviour says, as job ``job``.

        Subclasses implement it; the base class raises :class:`NotImplementedError`.

        Args:
            job: the job's label.
            attempt: the attempt, from 1.
            status: the job's ``task_status`` (wrapped to note ``ready``), or None.

        Returns:
            :meth:`value`, when it completes.

        Raises:
            BehaviourError: for behaviours that fail on purpose.

        Cancellation:
            The cancellation propagates: at once, except for :class:`Stubborn` (shielded
            for ``shielded`` seconds) and :class:`Serve` (which cleans up for ``cleanup``
            seconds, shielded).
        """
        raise NotImplementedError

    async def perform(
        self, job: str, attempt: int, status: TaskStatusLike | None, recorder: Recorder
    ) -> Any:
        """What :func:`make_body` runs: :meth:`act`, unless the behaviour needs the run's
        ``recorder`` (its service pool, for instance).

        Args:
            job: the job's label (also its caller name for services).
            attempt: the attempt, from 1.
            status: the job's ``task_status``, or None.
            recorder: the run's recorder.

        Returns:
            What :meth:`act` returns.

        Raises:
            BehaviourError: for behaviours that fail on purpose.
            TypeError: a :class:`CallService` whose recorder has no pool.

        Cancellation:
            As :meth:`act` (a service call is cancelled with its caller).
        """
        return await self.act(job, attempt, status)

    def make_job(self, name: str, recorder: Recorder, **options: Any) -> AbstractJob:
        """Build the job that performs this behaviour as job ``name`` of a drawn graph.

        :func:`~jobgraph.testing.build` calls it for every drawn job. The base class
        builds a :class:`~jobgraph.Job` running :func:`make_body`; a subclass may
        build another job kind, as long as each attempt of its ``run()`` is wrapped in
        :meth:`Recorder.observe` (with ``name``), and the job takes ``options``.

        Args:
            name: the job's drawn name.
            recorder: where the attempts take notes.
            **options: the engine's job options (``label``, ``requires``,
                ``critical``, ``forever``, ``timeout``, ``retry``,
                ``on_failed_requirement``).

        Returns:
            A new job, not yet in a scheduler.
        """
        return Job(
            make_body(name, self, recorder), *_seen_arguments(name, recorder, options), **options
        )

    def value_of(self, result: Any) -> Any:
        """What the job's result says the behaviour produced, compared by the oracle
        with :meth:`value` when the job finishes.

        Args:
            result: the job's result (as its record keeps it).

        Returns:
            The base class: ``result`` itself. A job kind whose result wraps the
            value (a list of command results...) unwraps it.
        """
        return result

    def plan(self, attempt: int) -> Plan | None:
        """What attempt ``attempt`` does, for the oracle to predict how the job ends.

        The oracle knows the behaviours of this module by themselves; it asks this
        method about the others. With a retry policy, it asks for each attempt in turn.

        Args:
            attempt: the attempt's number, from 1.

        Returns:
            The base class: None (no prediction: any ending is accepted, as long as
            the other rules hold).
        """
        del attempt
        return None


@dataclass(frozen=True, slots=True)
class Return(Behaviour):
    """Sleep ``after`` seconds, then return ``result``.

    Attributes:
        after: seconds to sleep.
        result: what to return.
    """

    after: float = 0.0
    result: int = 0

    def value(self) -> Any:
        return self.result

    async def act(self, job: str, attempt: int, status: TaskStatusLike | None) -> Any:
        await anyio.sleep(self.after)
        return self.result


@dataclass(frozen=True, slots=True)
class Raise(Behaviour):
    """Sleep ``after`` seconds, then raise :class:`BehaviourError`.

    Attributes:
        after: seconds to sleep.
    """

    after: float = 0.0

    def can_fail(self) -> bool:
        return True

    async def act(self, job: str, attempt: int, status: TaskStatusLike | None) -> Any:
        await anyio.sleep(self.after)
        raise BehaviourError(job, attempt)


@dataclass(frozen=True, slots=True)
class Flaky(Behaviour):
    """Fail the first ``failures`` attempts (after ``after`` seconds), then return ``result``.

    Attributes:
        failures: attempts that raise :class:`BehaviourError`.
        after: seconds to sleep on each attempt.
        result: what a later attempt returns.
    """

    failures: int = 1
    after: float = 0.0
    result: int = 0

    def can_fail(self) -> bool:
        return True

    def value(self) -> Any:
        return self.result

    async def act(self, job: str, attempt: int, status: TaskStatusLike | None) -> Any:
        await anyio.sleep(self.after)
        if attempt <= self.failures:
            raise BehaviourError(job, attempt)
        return self.result


@dataclass(frozen=True, slots=True)
class Hang(Behaviour):
    """Never return: sleep until cancelled."""

    async def act(self, job: str, attempt: int, status: TaskStatusLike | None) -> Any:
        await anyio.sleep_forever()


@dataclass(frozen=True, slots=True)
class Stubborn(Behaviour):
    """Ignore cancellation for ``shielded`` seconds, then sleep ``after`` and return.

    Attributes:
        shielded: seconds slept in a shielded scope.
        after: seconds slept after that (cancellable).
        result: what to return.
    """

    shielded: float = 0.0
    after: float = 0.0
    result: int = 0

    def value(self) -> Any:
        return self.result

    async def act(self, job: str, attempt: int, status: TaskStatusLike | None) -> Any:
        with anyio.CancelScope(shield=True):
            await anyio.sleep(self.shielded)
        await anyio.sleep(self.after)
        return self.result


@dataclass(frozen=True, slots=True)
class Serve(Behaviour):
    """A forever job: get ready in ``ready_after`` seconds, then serve until cancelled.

    Attributes:
        ready_after: seconds before it is ready.
        signals_ready: the body takes ``task_status`` and calls ``started()`` once
            ready; without it, its dependents may start as soon as it starts.
        crash_after: if set, it raises :class:`BehaviourError` that many seconds after
            being ready.
        cleanup: seconds of shielded clean-up when cancelled.
    """

    forever = True
    ready_after: float = 0.0
    signals_ready: bool = True
    crash_after: float | None = None
    cleanup: float = 0.0

    def can_fail(self) -> bool:
        return self.crash_after is not None

    async def act(self, job: str, attempt: int, status: TaskStatusLike | None) -> Any:
        await anyio.sleep(self.ready_after)
        if status is not None:
            status.started()
        try:
            if self.crash_after is None:
                await anyio.sleep_forever()
            else:
                await anyio.sleep(self.crash_after)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await anyio.sleep(self.cleanup)
            raise
        raise BehaviourError(job, attempt)


CallMethod = Literal["echo", "fail", "secret", "bad_args", "serial", "shared"]
CALL_METHODS: tuple[CallMethod, ...] = ("echo", "fail", "secret", "bad_args", "serial", "shared")


@dataclass(frozen=True, slots=True)
class CallService(Behaviour):
    """Make one call to the run's harness services (see ``jobgraph.testing._services``).

    ``method`` says which call and so what happens:

    - ``echo``: the service sleeps ``after`` seconds and returns ``result``;
    - ``fail``: the service sleeps ``after`` seconds and raises :class:`BehaviourError`;
    - ``secret``: the method's policy refuses the job (``AccessDeniedError``, at once);
    - ``bad_args``: ``echo`` with a wrong argument type (``ServiceArgumentError``, at once);
    - ``serial``: like ``echo``, in a service that serves one call at a time, so the
      job may wait for its turn;
    - ``shared``: computes ``key`` once per run, however many jobs ask (they wait for
      the one computing it, or get the remembered value); returns ``key``.

    Attributes:
        method: one of the above.
        after: seconds the service sleeps.
        result: what ``echo`` and ``serial`` return.
        key: what ``shared`` computes and returns.
    """

    method: CallMethod = "echo"
    after: float = 0.0
    result: int = 0
    key: int = 0

    def can_fail(self) -> bool:
        return self.method in ("fail", "secret", "bad_args")

    def value(self) -> Any:
        if self.method in ("echo", "serial"):
            return self.result
        if self.method == "shared":
            return self.key
        return None

    async def act(self, job: str, attempt: int, status: TaskStatusLike | None) -> Any:
        raise TypeError(
            "a CallService body needs the run's service pool: build it with make_body() "
            "and a Recorder whose pool is running (run_graph() does that)"
        )

    async def perform(
        self, job: str, attempt: int, status: TaskStatusLike | None, recorder: Recorder
    ) -> Any:
        """Make the call through ``recorder.pool``, as job ``job`` (its caller name).

        Args:
            job: the job's label, the caller's name.
            attempt: the attempt, from 1 (passed to the service, which notes it).
            status: unused (a service call is never a forever job).
            recorder: the run's recorder; its ``pool`` must be running.

        Returns:
            What the service returned: ``result`` for ``echo`` and ``serial``, ``key`` for
            ``shared``.

        Raises:
            TypeError: the recorder has no pool.
            BehaviourError: for ``fail``.
            ~jobgraph.services.AccessDeniedError: for ``secret``.
            ~jobgraph.services.ServiceArgumentError: for ``bad_args``.

        Cancellation:
            The call is cancelled with its caller (see
            :meth:`~jobgraph.services.ServicePool.call`); the service notes
            ``call-cancelled``.
        """
        from jobgraph.services import Caller

        pool = recorder.pool
        if pool is None:
            raise TypeError(
                f"job {job!r} calls a service, but its recorder has no service pool "
                "(run the graph with run_graph(), which provides one)"
            )
        caller = Caller(job)
        who: dict[str, Any] = {"job": job, "attempt": attempt}
        after = float(self.after)
        if self.method == "echo":
            return await pool.call(
                "harness", "echo", {**who, "after": after, "result": self.result}, caller=caller
            )
        if self.method == "fail":
            return await pool.call("harness", "fail", {**who, "after": after}, caller=caller)
        if self.method == "secret":
            return await pool.call("harness", "secret", who, caller=caller)
        if self.method == "bad_args":
            return await pool.call(
                "harness", "echo", {**who, "after": "soon", "result": self.result}, caller=caller
            )
        if self.method == "serial":
            return await pool.call(
                "serial", "work", {**who, "after": after, "result": self.result}, caller=caller
            )
        if self.method == "shared":
            return await pool.call("shared", "compute", {**who, "key": self.key}, caller=caller)
        raise ValueError(f"CallService: unknown method {self.method!r}; use one of {CALL_METHODS}")


def make_body(job: str, behaviour: Behaviour, recorder: Recorder) -> Callable[..., Awaitable[Any]]:
    """The async callable that performs ``behaviour`` as job ``job``, taking notes.

    The body notes ``enter``, ``saw`` (what it sees of its requirements, see
    :meth:`Recorder.saw`), then ``return``, ``raise`` or ``cancelled``, then ``exit``
    in ``recorder``. A :class:`Serve` that signals readiness gets a body taking
    ``task_status``. The body takes one optional argument: the values the engine
    resolved for the :class:`~jobgraph.ResultOf` placeholders that
    :meth:`Behaviour.make_job` gives half the jobs (by name) for their explicit
    requirements; other requirements are read with ``result()``.

    Args:
        job: the job's label.
        behaviour: what the body does.
        recorder: where it takes notes (and finds the service pool).

    Returns:
        The body, to give to :class:`~jobgraph.Job`.
    """

    async def perform(status: TaskStatusLike | None, given: Mapping[str, Any] | None) -> Any:
        async def act(attempt: int) -> Any:
            recorder.saw(job, attempt, given)
            noting = None if status is None else _Noting(status, recorder, job, attempt)
            return await behaviour.perform(job, attempt, noting, recorder)

        return await recorder.observe(job, act)

    if isinstance(behaviour, Serve) and behaviour.signals_ready:

        async def serve(
            given: Mapping[str, Any] | None = None, *, task_status: TaskStatusLike
        ) -> Any:
            return await perform(task_status, given)

        return serve

    async def body(given: Mapping[str, Any] | None = None) -> Any:
        return await perform(None, given)

    return body


class _Unseen:
    """What a :class:`_SeenResult` placeholder stands for when its job has no result."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<no result>"


_UNSEEN = _Unseen()


class _SeenResult(ResultOf):
    """A :class:`~jobgraph.ResultOf` placeholder that stands for ``_UNSEEN``, instead of
    failing its dependent, when its job has no result (a job runs after a failed
    requirement with ``on_failed_requirement="run"``, or beside a forever one)."""

    __slots__ = ()

    def resolve(self, dependent: AbstractJob | None = None) -> Any:
        if not self.job.ok:
            return _UNSEEN
        return super().resolve(dependent)


def _seen_arguments(name: str, recorder: Recorder, options: Mapping[str, Any]) -> tuple[Any, ...]:
    """The arguments that make job ``name``'s body see its requirements as placeholders.

    Half the jobs (chosen by their name, the same in every run) take their explicit
    requirements' results (``options["requires"]``) as placeholders, which the engine
    resolves just before the job starts; the other half, and every requirement a
    sequence adds (a placeholder would add the requirement itself), read them with
    ``result()`` when the body starts. Both ways are what users do.
    """
    requirements = recorder.requirements.get(name)
    if not requirements or zlib.crc32(name.encode()) % 2:
        return ()
    explicit = {id(job) for job in options.get("requires", ())}
    given = {other: _SeenResult(job) for other, job in requirements if id(job) in explicit}
    return (given,) if given else ()


class _Noting:
    """Wraps a task_status so that ``started()`` is noted before the engine hears it."""

    __slots__ = ("attempt", "job", "recorder", "status")

    def __init__(self, status: TaskStatusLike, recorder: Recorder, job: str, attempt: int) -> None:
        self.status = status
        self.recorder = recorder
        self.job = job
        self.attempt = attempt

    def started(self, value: object = None) -> None:
        self.recorder.note(self.job, "ready", self.attempt)
        self.status.started(value)
