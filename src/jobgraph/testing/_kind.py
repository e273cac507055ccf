"""check_job_kind: run a custom job kind through the situations every kind must survive.

The contract of a job kind (an :class:`~jobgraph.AbstractJob` subclass, or anything
that builds one): its ``run()`` completes; it can run again after ``reset()``; it lets
cancellation through promptly (within the scheduler's ``shutdown_timeout``) instead
of swallowing it; it stops when its ``timeout`` expires; it is skipped, never run,
when a requirement failed and its policy says ``skip``; its ``shutdown()`` hook
returns in time; and it forwards the standard options (``label=`` ...) to
``AbstractJob.__init__``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from jobgraph import (
    AbstractJob,
    EventKind,
    Job,
    JobEvent,
    JobTimeoutError,
    Scheduler,
    SchedulerTimeoutError,
)
from jobgraph.lowlevel import record_of, stragglers_of
from jobgraph.testing._runner import _backend_options

__all__ = ["KindReport", "check_job_kind"]


@dataclass(slots=True)
class KindReport:
    """What :func:`check_job_kind` found, in plain words.

    Attributes:
        kind: the name of the job kind checked.
        violations: broken contracts.
        notes: situations the check could not exercise.
    """

    kind: str
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no contract was broken."""
        return not self.violations

    def check(self) -> KindReport:
        """Fail if a contract was broken.

        Returns:
            The report itself, when there is no violation.

        Raises:
            AssertionError: listing the violations.
        """
        if self.violations:
            raise AssertionError(str(self))
        return self

    def __str__(self) -> str:
        lines = [f"job kind {self.kind}: " + ("no violation" if self.ok else "violations:")]
        lines += [f"- {text}" for text in self.violations]
        lines += [f"  (note: {text})" for text in self.notes]
        return "\n".join(lines)


def check_job_kind(
    kind: Callable[..., AbstractJob],
    *args: Any,
    backends: Sequence[str] = ("asyncio", "trio"),
    patience: float = 5.0,
    probe: float = 0.05,
    shutdown_timeout: float = 1.0,
    strict: bool = False,
    **kwargs: Any,
) -> KindReport:
    """Run jobs made by ``kind(*args, **kwargs)`` through the job contract.

    Each situation runs in a new event loop of each backend (real clocks, since a job
    kind may do real I/O): a normal run and a second one after ``reset()``; a run
    aborted after ``probe`` seconds by a failing critical sibling; a run with
    ``timeout=probe``; a failed requirement with policy ``skip``; the ``shutdown()``
    hook.

    Args:
        kind: a job class or any callable returning a fresh job.
        *args: positional arguments for ``kind``.
        backends: where to run: ``"asyncio"``, ``"trio"`` or ``"trio-mockclock"``.
        patience: how long a normal run may take, in seconds.
        probe: when the abort and the timeout strike, in seconds.
        shutdown_timeout: given to the schedulers that run the jobs.
        strict: raise instead of returning a report with violations.
        **kwargs: keyword arguments for ``kind`` (job options are added to them).

    Returns:
        The report.

    Raises:
        AssertionError: with ``strict=True``, listing the violations.
        ValueError: a backend is unknown.
    """
    name = getattr(kind, "__qualname__", None) or repr(kind)
    report = KindReport(name)
    checker = _KindChecker(
        kind,
        args=args,
        kwargs=kwargs,
        report=report,
        patience=patience,
        probe=probe,
        shutdown_timeout=shutdown_timeout,
    )
    if checker.options():
        for backend in backends:
            real, options = _backend_options(backend)
            anyio.run(checker.all, backend, backend=real, backend_options=options)
    if strict:
        report.check()
    return report


def _ending(job: AbstractJob) -> str:
    """How a job ended, in words: ``ok (it returned -1)``, ``failed (KeyError('x'))``."""
    record = record_of(job)
    if record.outcome == "ok":
        return f"ok (it returned {record.result!r})"
    if record.outcome == "failed":
        return f"failed ({record.exception!r})"
    return record.outcome


class _PurposeError(Exception):
    """What the harness's own failing jobs raise."""


async def _fail_after(delay: float) -> None:
    await anyio.sleep(delay)
    raise _PurposeError(f"failing on purpose after {delay:g}s")


class _KindChecker:
    def __init__(
        self,
        kind: Callable[..., AbstractJob],
        *,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        report: KindReport,
        patience: float,
        probe: float,
        shutdown_timeout: float,
    ) -> None:
        self.kind = kind
        self.args = args
        self.kwargs = kwargs
        self.report = report
        self.patience = patience
        self.probe = probe
        self.shutdown_timeout = shutdown_timeout

    def violation(self, backend: str, text: str) -> None:
        line = f"[{backend}] {text}" if backend else text
        if line not in self.report.violations:
            self.report.violations.append(line)

    def note(self, backend: str, text: str) -> None:
        line = f"[{backend}] {text}" if backend else text
        if line not in self.report.notes:
            self.report.notes.append(line)

    def make(self, **options: Any) -> AbstractJob:
        job = self.kind(*self.args, **self.kwargs, **options)
        if not isinstance(job, AbstractJob):
            raise TypeError(f"{self.report.kind} built {job!r}, which is not a job")
        return job

    def options(self) -> bool:
        """Check construction; False if no job can be built at all."""
        try:
            first, second = self.make(), self.make()
        except Exception as exc:  # noqa: BLE001 - reported in plain words
            self.violation("", f"building a job failed: {type(exc).__name__}: {exc}")
            return False
        if first is second:
            self.violation("", "each call must build a new job, but the same one came back")
        try:
            labelled = self.make(label="probe-label")
        except TypeError:
            self.note("", "it does not accept the standard options such as label=")
        else:
            if labelled.label != "probe-label":
                self.violation(
                    "", f"label='probe-label' was not passed on: its label is {labelled.label!r}"
                )
        try:
            text = f"{first.label}{first!r}"
            del text
        except Exception as exc:  # noqa: BLE001 - reported in plain words
            self.violation("", f"its label or repr() raises {type(exc).__name__}: {exc}")
        return True

    async def all(self, backend: str) -> None:
        await self.normal(backend)
        await self.cancellation(backend)
        await self.timeout(backend)
        await self.failed_requirement(backend)

    async def run(self, scheduler: Scheduler, backend: str, what: str) -> list[JobEvent] | None:
        events: list[JobEvent] = []
        scheduler.subscribe(events.append)
        with anyio.move_on_after(self.patience + 2 * self.shutdown_timeout) as guard:
            try:
                await scheduler.run()
            except Exception as exc:  # noqa: BLE001 - reported in plain words
                self.violation(backend, f"{what}: the run raised {type(exc).__name__}: {exc}")
                return None
        if guard.cancelled_caught:
            self.violation(backend, f"{what}: it did not end within {self.patience:g}s")
            return None
        return events

    async def normal(self, backend: str) -> None:
        job = self.make()
        scheduler = Scheduler(job, shutdown_timeout=self.shutdown_timeout, label="harness")
        if await self.run(scheduler, backend, "a normal run") is None:
            return
        first = record_of(job).outcome
        if first == "failed":
            self.note(backend, f"a normal run raised {record_of(job).exception!r}")
        else:
            try:
                job.result()
            except Exception as exc:  # noqa: BLE001 - reported in plain words
                self.violation(backend, f"result() raised {exc!r} after a successful run")
        scheduler.reset()
        if await self.run(scheduler, backend, "a run after reset()") is None:
            return
        if record_of(job).outcome != first:
            self.violation(
                backend,
                f"it is not re-runnable: the first run ended {first}, the one after "
                f"reset() {_ending(job)}",
            )
        with anyio.move_on_after(self.shutdown_timeout + 1) as guard:
            try:
                clean = await scheduler.shutdown()
            except Exception as exc:  # noqa: BLE001 - reported in plain words
                self.violation(backend, f"shutdown() raised {exc!r}")
                return
        if guard.cancelled_caught or not clean:
            self.violation(
                backend,
                f"its shutdown() hook failed or took longer than {self.shutdown_timeout:g}s",
            )

    async def cancellation(self, backend: str) -> None:
        job = self.make()
        job.critical = False
        canceller = Job(_fail_after, self.probe, label="canceller", critical=True)
        scheduler = Scheduler(
            job, canceller, shutdown_timeout=self.shutdown_timeout, label="harness"
        )
        events = await self.run(scheduler, backend, "a run aborted by a critical failure")
        if events is None:
            return
        aborted = record_of(canceller).ended_at
        assert aborted is not None
        ended = record_of(job).ended_at
        if ended is None or ended <= aborted:
            self.note(backend, f"it ended before {self.probe:g}s: cancellation not exercised")
            return
        if job in stragglers_of(scheduler) or any(
            e.kind is EventKind.STRAGGLING and e.job is job for e in events
        ):
            self.violation(
                backend,
                f"it kept running more than {self.shutdown_timeout:g}s after it was cancelled",
            )
        outcome = record_of(job).outcome
        if outcome == "ok":
            self.violation(
                backend, "it swallowed the cancellation: it returned a result after being cancelled"
            )
        elif outcome == "failed":
            self.violation(
                backend,
                f"it raised {record_of(job).exception!r} when cancelled, instead of letting the "
                "cancellation through",
            )
        if ended - aborted > self.shutdown_timeout:
            self.violation(
                backend, f"it took {ended - aborted:.3f}s to stop after it was cancelled"
            )

    async def timeout(self, backend: str) -> None:
        job = self.make()
        job.timeout = self.probe
        job.critical = False
        scheduler = Scheduler(job, shutdown_timeout=self.shutdown_timeout, label="harness")
        if await self.run(scheduler, backend, f"a run with timeout={self.probe:g}") is None:
            return
        record = record_of(job)
        duration = record.duration or 0.0
        # a scheduler's timeout is its global one, and it reports it as its own failure
        expected: tuple[type[Exception], ...] = (
            (JobTimeoutError, SchedulerTimeoutError)
            if isinstance(job, Scheduler)
            else (JobTimeoutError,)
        )
        if duration < self.probe and not isinstance(record.exception, expected):
            self.note(backend, f"it ended before {self.probe:g}s: its timeout not exercised")
            return
        if not isinstance(record.exception, expected):
            self.violation(
                backend,
                f"it ran {duration:.3f}s with timeout={self.probe:g} and ended "
                f"{_ending(job)}, not with a " + " or ".join(kind.__name__ for kind in expected),
            )
        elif duration - self.probe > self.shutdown_timeout:
            self.violation(
                backend, f"it took {duration - self.probe:.3f}s to stop after its timeout"
            )

    async def failed_requirement(self, backend: str) -> None:
        job = self.make()
        bad = Job(_fail_after, 0.0, label="failing requirement", critical=False)
        job.requires(bad)
        job.on_failed_requirement = type(job.on_failed_requirement)("skip")
        scheduler = Scheduler(bad, job, shutdown_timeout=self.shutdown_timeout, label="harness")
        if await self.run(scheduler, backend, "a run after a failed requirement") is None:
            return
        if record_of(job).outcome != "skipped" or record_of(job).attempts:
            self.violation(
                backend,
                f"with on_failed_requirement='skip' after a failed requirement it ended "
                f"{record_of(job).outcome}, not skipped",
            )
