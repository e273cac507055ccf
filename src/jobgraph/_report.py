"""Text views of jobs and schedulers: listings, statistics, debriefs, JSON run reports.

Two mixins carry them. :class:`JobViewsMixin` is a base of :class:`~jobgraph.AbstractJob`
and holds the per-job pieces of a listing line (``repr_id()``, ``repr_short()``,
``repr_main()``, ``repr_result()``, ``repr_requires()``), which job kinds may override;
:class:`SchedulerViewsMixin` is a base of :class:`~jobgraph.Scheduler` and assembles
them into ``list()``, ``list_safe()``, ``debrief()``, ``stats()``, ``report()`` and,
through :mod:`jobgraph._dot` and :mod:`jobgraph._timeline`, drawings.

A listing line reads, for a job numbered 2 that is critical, ran and raised::

    2 ⚠ ★ ☓   <Job `boom`> !! CRIT. EXC. => ValueError:boom!! requires={1}

The four status columns are: critical (``⚠``), how it went (``★`` raised, ``☉`` ran
without raising), where it is in its life cycle (``⚐`` idle, ``⚑`` scheduled, ``↺``
running, ``☓`` done, ``⊘`` skipped) and forever (``∞``). When the terminal cannot
print these, listings use ASCII instead (``!``, ``:(``, ``:)``, ``>``, ``.``, ``o``,
``x``, ``-``, ``8``).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import math
import os
import re
import sys
import traceback
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ._exceptions import CriticalJobError, CycleError, InvalidOptionError, JobDefinitionError
from ._run import JobState

if TYPE_CHECKING:
    from ._job import AbstractJob
    from ._scheduler import Scheduler

__all__ = ["JobViewsMixin", "SchedulerViewsMixin", "Symbols", "symbols"]


@dataclass(frozen=True, slots=True)
class Symbols:
    """The glyphs of the status columns of a listing."""

    critical: str
    raised: str
    ok: str
    idle: str
    scheduled: str
    running: str
    done: str
    skipped: str
    forever: str


UNICODE_SYMBOLS = Symbols(
    critical="\u26a0",  # warning sign
    raised="\u2605",  # black star
    ok="\u2609",  # sun
    idle="\u2690",  # white flag
    scheduled="\u2691",  # black flag
    running="\u21ba",  # anticlockwise open circle arrow
    done="\u2613",  # saltire
    skipped="\u2298",  # circled division slash
    forever="\u221e",  # infinity
)
ASCII_SYMBOLS = Symbols(
    critical="!",
    raised=":(",
    ok=":)",
    idle=">",
    scheduled=".",
    running="o",
    done="x",
    skipped="-",
    forever="8",
)

# set by list_text(ascii=...) and friends while they format; None: ask the terminal
_FORCE_ASCII: ContextVar[bool | None] = ContextVar("jobgraph_force_ascii", default=None)


def _stdout_takes_unicode() -> bool:
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        "".join((UNICODE_SYMBOLS.critical, UNICODE_SYMBOLS.done, UNICODE_SYMBOLS.skipped)).encode(
            encoding
        )
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def symbols() -> Symbols:
    """The glyphs to use now: unicode unless stdout cannot encode them (or ASCII was
    asked for by the listing being built)."""
    forced = _FORCE_ASCII.get()
    if forced is None:
        forced = not _stdout_takes_unicode()
    return ASCII_SYMBOLS if forced else UNICODE_SYMBOLS


@contextlib.contextmanager
def _glyphs(ascii: bool | None) -> Iterator[None]:
    if ascii is None:
        yield
        return
    token = _FORCE_ASCII.set(ascii)
    try:
        yield
    finally:
        _FORCE_ASCII.reset(token)


def _one_line(text: str) -> str:
    return text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def _ids(jobs: Iterator[Any] | tuple[Any, ...]) -> str:
    return "{" + ", ".join(job.repr_id() for job in jobs) + "}"


def _refused(job: AbstractJob) -> str:
    """The requirements of ``job`` that ``run()`` refuses (not in its scheduler), as the
    end of its listing line, or an empty string."""
    from ._exceptions import nested_holder

    level = job.scheduler
    if level is None:
        return ""
    members = level._jobs
    notes = []
    for requirement in job._requires:
        if requirement in members:
            continue
        holder = nested_holder(level, requirement)
        if holder is not None:
            notes.append(f"{requirement.repr_id()} is inside nested scheduler {holder.repr_id()}")
        else:
            notes.append(f"{requirement.label!r} is not in this scheduler")
    return " !! refused by run(): " + "; ".join(notes) if notes else ""


class JobViewsMixin:
    """Per-job pieces of listings and drawings; a base class of AbstractJob.

    Job kinds may override any of these to change how they show.
    """

    # the job's number in the last listing or drawing of its scheduler
    _sched_id: str | None = None

    def _job(self) -> AbstractJob:
        return cast("AbstractJob", self)

    def repr_id(self) -> str:
        """The job's number in the last listing (or drawing) of its scheduler, or ``??``."""
        return self._sched_id or "??"

    def repr_short(self) -> str:
        """The four status columns: critical, raised or fine, life cycle, forever."""
        job = self._job()
        record = job.record
        glyph = symbols()
        state = record.state
        if state is JobState.DONE:
            # a cancelled job never completed: it shows as interrupted while running
            stage = glyph.running if record.cancelled else glyph.done
        elif state is JobState.RUNNING:
            stage = glyph.running
        elif state is JobState.SCHEDULED:
            stage = glyph.scheduled
        elif state is JobState.SKIPPED:
            stage = glyph.skipped
        else:
            stage = glyph.idle
        if record.exception is not None:
            boom = glyph.raised
        elif state in (JobState.RUNNING, JobState.DONE):
            boom = glyph.ok
        else:
            boom = " " * len(glyph.ok)
        critical = glyph.critical if job.critical else " "
        forever = glyph.forever if job.forever else " "
        return f"{critical} {boom} {stage} {forever}"

    def text_label(self) -> str | None:
        """A one-line description of the job: its label on one line unless a job kind
        computes something better (None: nothing to say)."""
        return _one_line(self._job().label)

    def graph_label(self) -> str | None:
        """The label of the job in drawings (may hold newlines); None means
        ``"<number>: <label>"``."""
        return None

    def repr_main(self) -> str:
        """The job's kind and label, like ``<Job `fetch`>``."""
        return f"<{type(self).__name__} `{_one_line(self._job().label)}`>"

    def repr_result(self) -> str:
        """The job's result, its exception, or where it stands if it has neither."""
        job = self._job()
        record = job.record
        if record.exception is not None:
            kind = "CRIT. EXC." if job.critical else "exception"
            exc = record.exception
            return f"!! {kind} => {type(exc).__name__}:{_one_line(str(exc))}!!"
        if record.state is JobState.DONE:
            if record.cancelled:
                return "[cancelled]"
            return f"[[ -> {_one_line(str(record.result))}]]"
        if record.state is JobState.SKIPPED:
            return "[skipped]"
        return "[not done]"

    def repr_requires(self) -> str:
        """Like ``requires={1, 2}`` (numbers of the last listing), or empty."""
        requirements = self._job()._requires
        if not requirements:
            return ""
        return "requires=" + _ids(tuple(requirements))

    def dot_style(self) -> dict[str, str | builtins.list[str]]:
        """DOT attributes for the job's node (or a nested scheduler's cluster).

        Critical jobs have a thick red border, forever jobs a dashed one; schedulers keep
        square corners while other jobs are rounded. Once the job's scheduler has run,
        the fill colour tells the outcome (see :data:`jobgraph._dot.OUTCOME_COLOURS`).
        """
        from ._dot import job_dot_style

        return job_dot_style(self._job())

    def _listed_as_done(self) -> bool:
        """Whether ``silence_done_jobs`` hides the job."""
        record = self._job().record
        return record.state is JobState.SKIPPED or (
            record.state is JobState.DONE and not record.cancelled
        )


def _legible(number: int, what: str) -> str:
    if number == 0:
        return f"none {what}"
    return f"{number} {what}"


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


def _build_report(scheduler: Scheduler) -> dict[str, Any]:
    record = scheduler.record
    origin = record.started_at

    def since(moment: float | None) -> float | None:
        if moment is None or origin is None:
            return None
        return round(moment - origin, 6)

    jobs: builtins.list[dict[str, Any]] = []

    def walk(level: Scheduler, parent: str | None) -> None:
        try:
            order = builtins.list(level.topological_order())
        except CycleError:
            order = builtins.list(level._jobs)
        for job in order:
            job_record = job.record
            succeeded = job_record.succeeded
            jobs.append(
                {
                    "id": job.repr_id(),
                    "parent": parent,
                    "label": job.label,
                    "kind": type(job).__name__,
                    "scheduler": job._is_scheduler,
                    "critical": job.critical,
                    "forever": job.forever,
                    "state": job_record.state.value,
                    "outcome": job_record.outcome,
                    "scheduled_at": since(job_record.scheduled_at),
                    "started_at": since(job_record.started_at),
                    "ended_at": since(job_record.ended_at),
                    "duration": job_record.duration,
                    "attempts": job_record.attempts,
                    "result": repr(job_record.result) if succeeded else None,
                    "exception": _exception_report(job_record.exception),
                    "requires": [requirement.repr_id() for requirement in job._requires],
                    "details": job.details(),
                }
            )
            if job._is_scheduler:
                walk(cast("Scheduler", job), job.repr_id())

    walk(scheduler, None)
    done, running, idle, total = scheduler._counts()
    ran = record.state is JobState.DONE
    return {
        "label": scheduler.label,
        "ok": (scheduler.failure is None and not record.cancelled and record.exception is None)
        if ran
        else None,
        "why": scheduler.why(),
        "failure": _exception_report(scheduler.failure),
        "jobs_window": scheduler.jobs_window,
        "timeout": scheduler.timeout,
        "duration": record.duration,
        "counts": {"done": done, "running": running, "idle": idle, "total": total},
        "jobs": jobs,
    }


class SchedulerViewsMixin:
    """Listings, statistics, reports and drawings of a scheduler; a base of Scheduler."""

    def _me(self) -> Scheduler:
        return cast("Scheduler", self)

    # -- numbering -----------------------------------------------------------------
    def _total_for_ids(self) -> int:
        total = 0
        for job in self._me()._jobs:
            total += 1
            if job._is_scheduler:
                total += cast("Scheduler", job)._total_for_ids()
        return total

    def _set_sched_ids(self, start: int = 1, width: int | None = None) -> int:
        """Number every job (nested ones too) in topological order from ``start``: a
        nested scheduler takes a number, then its jobs do. Returns the next number.

        Raises :class:`~jobgraph.CycleError` if a scheduler has a cycle.
        """
        if width is None:
            total = self._total_for_ids()
            width = 1 if total <= 9 else math.floor(math.log10(total - 1)) + 1
        number = start
        for job in self._me().topological_order():
            job._sched_id = f"{number:0{width}d}"
            number += 1
            if job._is_scheduler:
                number = cast("Scheduler", job)._set_sched_ids(number, width)
        return number

    def _set_sched_ids_safe(self, prefix: str = "") -> None:
        """Number the jobs in insertion order (works on cyclic graphs): ``1``, ``2``,
        and ``2.1``, ``2.2`` for the jobs of a nested scheduler numbered ``2``."""
        for index, job in enumerate(self._me()._jobs, 1):
            job._sched_id = f"{prefix}{index}"
            if job._is_scheduler:
                cast("Scheduler", job)._set_sched_ids_safe(f"{prefix}{index}.")

    def _number_jobs(self) -> None:
        """Topological numbers if possible, insertion-order ones otherwise."""
        try:
            self._set_sched_ids()
        except CycleError:
            self._set_sched_ids_safe()

    # -- entries and exits as listings show them -------------------------------------
    def repr_entries(self) -> str:
        """Like ``entries={3}``: the jobs of this scheduler that require nothing."""
        entries = tuple(self._me().entry_jobs())
        return "entries=" + (_ids(entries) if entries else "")

    def repr_exits(self) -> str:
        """Like ``exits={6}``: the (finite) jobs that no other job requires."""
        exits = tuple(self._me().exit_jobs())
        return "exits=" + (_ids(exits) if exits else "")

    # -- listings ------------------------------------------------------------------
    def _list_lines(
        self, lines: builtins.list[str], details: bool, depth: int, silence_done: bool
    ) -> None:
        indent = ">" * depth + " " if depth else ""
        for job in self._me().topological_order():
            if job._is_scheduler:
                nested = cast("Scheduler", job)
                lines.append(
                    f"{job.repr_id()} {job.repr_short()} {indent}{job.repr_main()} "
                    f"{job.repr_result()} {job.repr_requires()} -> {nested.repr_entries()}"
                    f"{_refused(job)}"
                )
                nested._list_lines(lines, details, depth + 1, silence_done)
                lines.append(
                    f"{job.repr_id()} --end-- {'<' * (depth + 1)} {job.repr_main()} "
                    f"{nested.repr_exits()}"
                )
                continue
            if silence_done and job._listed_as_done():
                continue
            lines.append(
                f"{job.repr_id()} {job.repr_short()} {indent}{job.repr_main()} "
                f"{job.repr_result()} {job.repr_requires()}{_refused(job)}"
            )
            if details:
                extra = job.details()
                if extra is not None:
                    lines.append(str(extra))

    def list_text(
        self,
        details: bool = False,
        silence_done_jobs: bool = False,
        *,
        ascii: bool | None = None,
    ) -> str:
        """The listing that :meth:`list` prints, as a string (one line per job, each
        ending with a newline).

        ``details``: add the text of each job's :meth:`~jobgraph.AbstractJob.details`
        under its line; ``silence_done_jobs``: leave out jobs that are done; ``ascii``:
        True or False forces the symbols, None uses unicode when stdout can print it.
        Raises :class:`~jobgraph.CycleError` if the jobs form a cycle (see
        :meth:`list_safe_text`).
        """
        if ascii is None and _FORCE_ASCII.get() is None:
            ascii = not _stdout_takes_unicode()  # asked once for the whole listing
        with _glyphs(ascii):
            self._set_sched_ids()
            lines: builtins.list[str] = []
            self._list_lines(lines, details, 0, silence_done_jobs)
        return "".join(line + "\n" for line in lines)

    def _list_safe_lines(self, lines: builtins.list[str], silence_done: bool) -> None:
        for job in self._me()._jobs:
            if silence_done and not job._is_scheduler and job._listed_as_done():
                continue
            lines.append(
                f"{job.repr_short()} {job.repr_id()} {job.repr_main()} {job.repr_requires()}"
                f"{_refused(job)}"
            )
            if job._is_scheduler:
                cast("Scheduler", job)._list_safe_lines(lines, silence_done)
                lines.append(f"--end-- {job.repr_id()}")

    def list_safe_text(
        self,
        silence_done_jobs: bool = False,
        *,
        ascii: bool | None = None,
    ) -> str:
        """Like :meth:`list_text`, in insertion order, so it works on graphs with cycles.

        Jobs are numbered ``1``, ``2``... and the jobs of a nested scheduler numbered
        ``2`` are ``2.1``, ``2.2``...
        """
        with _glyphs(ascii):
            self._set_sched_ids_safe()
            lines: builtins.list[str] = []
            self._list_safe_lines(lines, silence_done_jobs)
        return "".join(line + "\n" for line in lines)

    def list_safe(self, silence_done_jobs: bool = False) -> None:
        """Print :meth:`list_safe_text`."""
        print(self.list_safe_text(silence_done_jobs), end="")

    # -- counts --------------------------------------------------------------------
    def _counts(self) -> tuple[int, int, int, int]:
        """(done, running, idle, total) among the scheduler's own jobs.

        Done means finished whatever the outcome (completed, failed, cancelled or
        skipped); idle includes scheduled jobs waiting for a window slot.
        """
        done = running = 0
        jobs = self._me()._jobs
        for job in jobs:
            state = job.record.state
            if state is JobState.DONE or state is JobState.SKIPPED:
                done += 1
            elif state is JobState.RUNNING:
                running += 1
        total = len(jobs)
        return done, running, total - done - running, total

    def stats(self) -> str:
        """Like ``2D + 3R + 4I = 9``: jobs done (finished, whatever the outcome),
        running, idle (or scheduled), and in total."""
        done, running, idle, total = self._counts()
        return f"{done}D + {running}R + {idle}I = {total}"

    def __repr__(self) -> str:
        label = self._me()._label
        name = type(self).__name__ if label is None else f"{type(self).__name__} {label!r}"
        return f"{name} {self._counts_repr()}"

    def _counts_repr(self) -> str:
        done, running, idle, total = self._counts()
        return f"with {done} done + {running} ongoing + {idle} idle = {total} job(s)"

    # -- debrief -------------------------------------------------------------------
    def debrief_text(
        self,
        details: bool = False,
        silence_done_jobs: bool = False,
        *,
        ascii: bool | None = None,
    ) -> str:
        """What :meth:`debrief` prints: why the run failed, the counts, the listing,
        then the traceback of every exception, critical ones first."""
        me = self._me()
        with _glyphs(ascii):
            listing = self.list_text(details, silence_done_jobs)
            done, running, idle, total = self._counts()
            out = [
                f"----- {me.why()}",
                (
                    f"----- {total} job(s): {_legible(done, 'done')}, "
                    f"{_legible(running, 'running')}, {_legible(idle, 'idle or scheduled')}"
                ),
                listing.rstrip("\n"),
            ]
            failed = [
                job
                for job in me.iterate_jobs(scan_schedulers=True)
                if job.record.exception is not None
                # a nested scheduler aborted by a critical job: that job tells the story
                and not (job._is_scheduler and isinstance(job.record.exception, CriticalJobError))
            ]
            if failed:
                criticals = [job for job in failed if job.critical]
                out.append(
                    f"===== {len(failed)} job(s) with an exception, "
                    f"including {len(criticals)} critical"
                )
                others = [job for job in failed if not job.critical]
                for job in (*criticals, *others):
                    kind = "CRITICAL job" if job.critical else "non-critical job"
                    exc = job.record.exception
                    assert exc is not None
                    out.append(f"----- {kind} {job.repr_id()} {job.repr_short()} {job.repr_main()}")
                    out.extend(
                        "    " + line
                        for chunk in traceback.format_exception(exc)
                        for line in chunk.rstrip("\n").split("\n")
                    )
        return "".join(line + "\n" for line in out)

    def debrief(self, details: bool = False, silence_done_jobs: bool = False) -> None:
        """Print :meth:`debrief_text`: meant for a scheduler whose run failed."""
        print(self.debrief_text(details, silence_done_jobs), end="")

    # -- machine-readable report -----------------------------------------------------
    def report(self) -> dict[str, Any]:
        """A JSON-ready description of the scheduler and its last run.

        Times are seconds since the run started (None when the event did not happen).
        Each job (nested ones included, in listing order) has its number (``id``, as in
        :meth:`list`), ``parent`` (the number of its nested scheduler, None at the top),
        label, kind, flags, state, outcome, times, attempts, result (its ``repr``),
        exception (type, message and traceback lines) and requirements (numbers).
        """
        self._number_jobs()
        return _build_report(self._me())

    def export_report(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`report` as JSON to ``path``; returns the path."""
        target = _path("export_report", path)
        target.write_text(
            json.dumps(self.report(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        return target

    # -- drawings ------------------------------------------------------------------
    def dot_format(self) -> str:
        """The graph of jobs in graphviz's DOT language (no graphviz needed)."""
        from ._dot import dot_format

        return dot_format(self._me())

    def export_as_dotfile(self, filename: str | os.PathLike[str]) -> str:
        """Write :meth:`dot_format` to ``filename``; returns a message saying so."""
        _path("export_as_dotfile", filename).write_text(self.dot_format(), encoding="utf-8")
        return f"(Over)wrote {filename}"

    def graph(self) -> Any:
        """The graph as a ``pydot.Dot`` (needs the ``pydot`` package)."""
        from ._dot import pydot_graph

        return pydot_graph(self._me())

    def export_as_graphic(self, filename: str | os.PathLike[str], suffix: str) -> str:
        """Render the graph with graphviz's ``dot`` into ``<filename>.<suffix>`` (``svg``,
        ``png``, ``pdf``...), next to ``<filename>.dot``; returns the file's name.

        Raises :class:`FileNotFoundError` when ``dot`` is not installed (Debian and
        Ubuntu: ``apt-get install graphviz``) and :class:`RuntimeError` if it fails.
        """
        from ._dot import render

        _path("export_as_graphic", filename)
        if not isinstance(suffix, str) or not _SUFFIX.fullmatch(suffix.lstrip(".")):
            raise InvalidOptionError(
                f"export_as_graphic(): suffix must name a graphviz format such as 'svg' or "
                f"'png', not {suffix!r}"
            )
        return render(self._me(), filename, suffix)

    def export_as_svgfile(self, filename: str | os.PathLike[str]) -> str:
        """:meth:`export_as_graphic` with ``suffix="svg"``."""
        return self.export_as_graphic(filename, "svg")

    def export_as_pngfile(self, filename: str | os.PathLike[str]) -> str:
        """:meth:`export_as_graphic` with ``suffix="png"``."""
        return self.export_as_graphic(filename, "png")

    def _repr_svg_(self) -> str | None:
        """The graph as SVG for Jupyter, or None (text display) without graphviz."""
        from ._dot import svg_text

        return svg_text(self._me())

    def export_timeline_svg(self, path: str | os.PathLike[str]) -> Path:
        """Write a Gantt chart of the last run as an SVG file; returns the path.

        One bar per job from start to end, coloured by outcome, with the wait for a
        window slot (from ``scheduled_at`` to ``started_at``) drawn before it.
        """
        from ._timeline import timeline_svg

        target = _path("export_timeline_svg", path)
        target.write_text(timeline_svg(self._me()), encoding="utf-8")
        return target

    def timeline_svg(self) -> str:
        """The Gantt chart of :meth:`export_timeline_svg`, as SVG text."""
        from ._timeline import timeline_svg

        return timeline_svg(self._me())

    # defined last: inside the class body, the name shadows the builtin ``list``
    def list(self, details: bool = False, silence_done_jobs: bool = False) -> None:
        """Print the jobs in topological order with their status (see :meth:`list_text`)."""
        print(self.list_text(details, silence_done_jobs), end="")


_SUFFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")


def _path(method: str, path: object) -> Path:
    """``path`` as a Path, or a clear error naming ``method``."""
    if not isinstance(path, str | os.PathLike) or isinstance(path, bytes):
        raise JobDefinitionError(f"{method}() takes a file path (str or Path), not {path!r}")
    text = os.fspath(path)
    if not isinstance(text, str) or not text:
        raise InvalidOptionError(f"{method}() takes a non-empty file path, not {path!r}")
    return Path(text)
