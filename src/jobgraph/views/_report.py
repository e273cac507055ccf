"""A machine-readable (JSON-ready) report of a scheduler and its last run."""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jobgraph.lowlevel import (
    CycleError,
    JobState,
    Scheduler,
    failure_of,
    notes_of,
    record_of,
    requirements_of,
)

from ._listing import _number_any
from ._paths import checked_path

__all__ = ["export_report", "report"]


def _exception_report(exc: BaseException | None) -> dict[str, Any] | None:
    if exc is None:
        return None
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": [
            line for chunk in traceback.format_exception(exc) for line in chunk.splitlines()
        ],
    }


def _json_data(data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        str(key): value if isinstance(value, str | int | float | bool | None) else repr(value)
        for key, value in data.items()
    }


def _build_report(scheduler: Scheduler) -> dict[str, Any]:
    record = record_of(scheduler)
    origin = record.started_at

    def since(moment: float | None) -> float | None:
        if moment is None or origin is None:
            return None
        return round(moment - origin, 6)

    jobs: list[dict[str, Any]] = []

    def walk(level: Scheduler, parent: str | None) -> None:
        try:
            order = list(level.topological_order())
        except CycleError:
            order = list(level.jobs)
        for job in order:
            job_record = record_of(job)
            succeeded = job_record.succeeded
            jobs.append(
                {
                    "id": job.repr_id(),
                    "parent": parent,
                    "label": job.label,
                    "kind": type(job).__name__,
                    "scheduler": isinstance(job, Scheduler),
                    "critical": job.critical,
                    "forever": job.forever,
                    "state": job_record.state.value,
                    "outcome": job_record.outcome,
                    "scheduled_at": since(job_record.scheduled_at),
                    "started_at": since(job_record.started_at),
                    "ended_at": since(job_record.ended_at),
                    "duration": job_record.duration,
                    "attempts": job_record.attempts,
                    "attempt_log": (
                        None
                        if job_record.attempt_log is None
                        else [
                            {
                                "started_at": since(attempt.started_at),
                                # the last attempt ends with the job
                                "ended_at": since(
                                    attempt.ended_at
                                    if attempt.ended_at is not None
                                    else job_record.ended_at
                                ),
                                "exception": _exception_report(attempt.exception),
                            }
                            for attempt in job_record.attempt_log
                        ]
                    ),
                    "worker": job_record.worker,
                    "result": repr(job_record.result) if succeeded else None,
                    "exception": _exception_report(job_record.exception),
                    "requires": [requirement.repr_id() for requirement in requirements_of(job)],
                    "details": job.details(),
                    "notes": [
                        {"at": since(moment), "note": note, "data": _json_data(data)}
                        for moment, note, data in notes_of(job)
                    ],
                }
            )
            if isinstance(job, Scheduler):
                walk(job, job.repr_id())

    walk(scheduler, None)
    done, running, idle, total = scheduler.counts()
    ran = record.state is JobState.DONE
    return {
        "label": scheduler.label,
        "ok": (failure_of(scheduler) is None and not record.cancelled and record.exception is None)
        if ran
        else None,
        "why": scheduler.why(),
        "failure": _exception_report(failure_of(scheduler)),
        "jobs_window": scheduler.jobs_window,
        "timeout": scheduler.timeout,
        "duration": record.duration,
        "counts": {"done": done, "running": running, "idle": idle, "total": total},
        "jobs": jobs,
    }


def report(scheduler: Scheduler) -> dict[str, Any]:
    """A JSON-ready description of the scheduler and its last run.

    Times are seconds since the run started (None when the event did not happen).
    Each job (nested ones included, in listing order) has its number (``id``, as in
    listings), ``parent`` (the number of its nested scheduler, None at the top),
    label, kind, flags, state, outcome, times, attempts (and, for a job with a retry
    policy, ``attempt_log``: each attempt's times and exception), ``worker`` (where an
    executor ran its body, None in the event loop), result (its ``repr``), exception
    (type, message and traceback lines), requirements (numbers) and ``notes``, what
    the job told during the run (``at``, ``note``, ``data``: an SSH job's connection
    state, for instance; see :func:`jobgraph.lowlevel.emit_note`).

    Args:
        scheduler: the scheduler to describe.

    Returns:
        Plain dicts, lists, strings and numbers, ready for :func:`json.dumps`.
    """
    _number_any(scheduler)
    return _build_report(scheduler)


def export_report(scheduler: Scheduler, path: str | os.PathLike[str]) -> Path:
    """Write :func:`report` as JSON to ``path``.

    Args:
        scheduler: the scheduler to describe.
        path: the file to (over)write, in UTF-8.

    Returns:
        The path written, as a :class:`~pathlib.Path`.

    Raises:
        JobDefinitionError: ``path`` is not a str or path-like.
        InvalidOptionError: ``path`` is empty.
        OSError: the file cannot be written.
    """
    target = checked_path("export_report", path)
    target.write_text(
        json.dumps(scheduler.report(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return target
