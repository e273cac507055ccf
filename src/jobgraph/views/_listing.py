"""Text views of schedulers: listings, statistics, debriefs, and the numbers they give jobs.

A listing line reads, for a job numbered 2 that is critical, ran and raised::

    2 ⚠ ★ ☓   <Job `boom`> !! CRIT. EXC. => ValueError:boom!! requires={1}

The four status columns are: critical (``⚠``), how it went (``★`` raised, ``☉`` ran
without raising), where it is in its life cycle (``⚐`` idle, ``⚑`` scheduled, ``↺``
running, ``☓`` done, ``⊘`` skipped) and forever (``∞``). When the terminal cannot
print these, listings use ASCII instead (``!``, ``:(``, ``:)``, ``>``, ``.``, ``o``,
``x``, ``-``, ``8``).

Each piece of a line comes from a method of the job (``repr_id()``, ``repr_short()``,
``repr_main()``, ``repr_result()``, ``repr_requires()``), which job kinds may override;
the defaults are the functions here (:func:`status_columns`, :func:`main_repr`...). The
numbers jobs get in a listing (or a drawing) are kept here, not in the jobs.
"""

from __future__ import annotations

import contextlib
import math
import sys
import traceback
import weakref
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from jobgraph.lowlevel import (
    AbstractJob,
    CriticalJobError,
    CycleError,
    JobState,
    Scheduler,
    journal_mark_of,
    record_of,
    requirements_of,
)

from ._graph import refused_requirements

__all__ = [
    "Symbols",
    "counts",
    "debrief_text",
    "entries_repr",
    "exits_repr",
    "job_number",
    "list_safe_text",
    "list_text",
    "main_repr",
    "number_jobs",
    "number_jobs_safe",
    "requires_repr",
    "result_repr",
    "stats",
    "status_columns",
    "symbols",
    "text_label",
]


@dataclass(frozen=True, slots=True)
class Symbols:
    """The glyphs of the status columns of a listing.

    Attributes:
        critical: marks a critical job.
        raised: a job that raised.
        ok: a job that ran and did not raise.
        idle: a job not scheduled yet.
        scheduled: a job waiting for a window slot.
        running: a running job (or one cancelled while it ran).
        done: a finished job.
        skipped: a skipped job.
        forever: marks a forever job.
    """

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
    """The glyphs to use now.

    Returns:
        The unicode glyphs, unless stdout cannot encode them (or the listing being
        built asked for ASCII): then ASCII ones.
    """
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


def _ids(jobs: Iterable[AbstractJob]) -> str:
    return "{" + ", ".join(job.repr_id() for job in jobs) + "}"


# -- numbers ---------------------------------------------------------------------------
# The number of each job in the last listing or drawing of its scheduler, kept here rather
# than in the job. Keyed by id() with a weak reference that tells whether the entry is still
# about the same job: reading is a dict lookup (listings read every number several times),
# and entries of dead jobs are dropped in bulk once they could outnumber the live ones.
_NUMBERS: dict[int, tuple[weakref.ref[AbstractJob], str]] = {}
_PURGE_AT = [4096]  # purge dead entries when the table grows past this size


def job_number(job: AbstractJob) -> str:
    """The job's number in the last listing (or drawing) of its scheduler.

    Args:
        job: any job.

    Returns:
        The number as text, or ``??`` if the job was not numbered (or was numbered
        before being replaced by another object).
    """
    entry = _NUMBERS.get(id(job))
    if entry is not None and entry[0]() is job:
        return entry[1]
    return "??"


def _set_number(job: AbstractJob, number: str) -> None:
    _NUMBERS[id(job)] = (weakref.ref(job), number)


def _purge_numbers() -> None:
    """Drop the entries of jobs that no longer exist (amortized: the threshold doubles)."""
    if len(_NUMBERS) > _PURGE_AT[0]:
        for key in [key for key, (ref, _) in _NUMBERS.items() if ref() is None]:
            del _NUMBERS[key]
        _PURGE_AT[0] = max(4096, 2 * len(_NUMBERS))


def _total_for_ids(scheduler: Scheduler) -> int:
    total = 0
    for job in scheduler.jobs:
        total += 1
        if isinstance(job, Scheduler):
            total += _total_for_ids(job)
    return total


def number_jobs(scheduler: Scheduler, start: int = 1, width: int | None = None) -> int:
    """Number every job (nested ones too) in topological order from ``start``.

    A nested scheduler takes a number, then its jobs do; numbers are zero-padded to one
    width. Listings, drawings and :meth:`~jobgraph.AbstractJob.repr_id` show them.

    Args:
        scheduler: the scheduler to number.
        start: the first number.
        width: the zero-padded width; None (the top call) computes it from the count
            of jobs.

    Returns:
        The next number.

    Raises:
        CycleError: a scheduler has a cycle.
    """
    if width is None:  # the top of the tree
        _purge_numbers()
        total = _total_for_ids(scheduler)
        width = 1 if total <= 9 else math.floor(math.log10(total - 1)) + 1
    number = start
    for job in scheduler.topological_order():
        _set_number(job, f"{number:0{width}d}")
        number += 1
        if isinstance(job, Scheduler):
            number = number_jobs(job, number, width)
    return number


def number_jobs_safe(scheduler: Scheduler, prefix: str = "") -> None:
    """Number the jobs in insertion order (works on cyclic graphs).

    Jobs get ``1``, ``2``..., and the jobs of a nested scheduler numbered ``2`` get
    ``2.1``, ``2.2``...

    Args:
        scheduler: the scheduler to number.
        prefix: put before each number (used for nested schedulers).
    """
    if not prefix:  # the top of the tree
        _purge_numbers()
    for index, job in enumerate(scheduler.jobs, 1):
        _set_number(job, f"{prefix}{index}")
        if isinstance(job, Scheduler):
            number_jobs_safe(job, f"{prefix}{index}.")


def _number_any(scheduler: Scheduler) -> None:
    """Topological numbers if possible, insertion-order ones otherwise."""
    try:
        number_jobs(scheduler)
    except CycleError:
        number_jobs_safe(scheduler)


# -- the pieces of a line (defaults of the jobs' repr_* methods) -------------------------
def status_columns(job: AbstractJob) -> str:
    """The four status columns: critical, raised or fine, life cycle, forever.

    Args:
        job: any job.

    Returns:
        The columns, separated by spaces, with the glyphs of :func:`symbols`.
    """
    record = record_of(job)
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


def text_label(job: AbstractJob) -> str:
    """The job's label on one line.

    Args:
        job: any job.

    Returns:
        The label, with its line breaks escaped.
    """
    return _one_line(job.label)


def main_repr(job: AbstractJob) -> str:
    """The job's kind and label.

    Args:
        job: any job.

    Returns:
        Text like ``<Job `fetch`>``.
    """
    return f"<{type(job).__name__} `{_one_line(job.label)}`>"


def result_repr(job: AbstractJob) -> str:
    """The job's result, its exception, or where it stands if it has neither.

    Args:
        job: any job.

    Returns:
        Text like ``[[ -> 42]]``, ``!! exception => ValueError:bad!!``,
        ``[cancelled]``, ``[skipped]`` or ``[not done]``.
    """
    record = record_of(job)
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


def requires_repr(job: AbstractJob) -> str:
    """The job's requirements, by their numbers in the last listing.

    Args:
        job: any job.

    Returns:
        Text like ``requires={1, 2}``, or empty without requirements.
    """
    requirements = requirements_of(job)
    if not requirements:
        return ""
    return "requires=" + _ids(requirements)


def entries_repr(scheduler: Scheduler) -> str:
    """The jobs of the scheduler that require nothing, by their numbers.

    Args:
        scheduler: the scheduler to describe.

    Returns:
        Text like ``entries={3}``.
    """
    entries = tuple(scheduler.entry_jobs())
    return "entries=" + (_ids(entries) if entries else "")


def exits_repr(scheduler: Scheduler) -> str:
    """The (finite) jobs that no other job requires, by their numbers.

    Args:
        scheduler: the scheduler to describe.

    Returns:
        Text like ``exits={6}``.
    """
    exits = tuple(scheduler.exit_jobs())
    return "exits=" + (_ids(exits) if exits else "")


def _refused(job: AbstractJob) -> str:
    """The end of the job's listing line that flags the requirements ``run()`` refuses
    (see :func:`~jobgraph.views.refused_requirements`), or an empty string."""
    notes = [
        f"{requirement.repr_id()} is inside nested scheduler {holder.repr_id()}"
        if holder is not None
        else f"{requirement.label!r} is not in this scheduler"
        for requirement, holder in refused_requirements(job)
    ]
    return " !! refused by run(): " + "; ".join(notes) if notes else ""


def _mark(job: AbstractJob) -> str | None:
    """What the last journaled run says of the job (``↺ restored``...), or None."""
    mark = journal_mark_of(job)
    if mark is not None and symbols() is ASCII_SYMBOLS:
        mark = mark.replace("↺", "<-")
    return mark


def _listed_as_done(job: AbstractJob) -> bool:
    """Whether ``silence_done_jobs`` hides the job."""
    record = record_of(job)
    return record.state is JobState.SKIPPED or (
        record.state is JobState.DONE and not record.cancelled
    )


def _legible(number: int, what: str) -> str:
    if number == 0:
        return f"none {what}"
    return f"{number} {what}"


# -- listings ----------------------------------------------------------------------------
def _list_lines(
    scheduler: Scheduler, lines: list[str], details: bool, depth: int, silence_done: bool
) -> None:
    indent = ">" * depth + " " if depth else ""
    for job in scheduler.topological_order():
        if isinstance(job, Scheduler):
            mark = _mark(job)
            lines.append(
                f"{job.repr_id()} {job.repr_short()} {indent}{job.repr_main()} "
                f"{job.repr_result()} {job.repr_requires()} -> {entries_repr(job)}"
                f"{_refused(job)}" + ("" if mark is None else f" {mark}")
            )
            _list_lines(job, lines, details, depth + 1, silence_done)
            lines.append(
                f"{job.repr_id()} --end-- {'<' * (depth + 1)} {job.repr_main()} {exits_repr(job)}"
            )
            continue
        if silence_done and _listed_as_done(job):
            continue
        mark = _mark(job)
        lines.append(
            f"{job.repr_id()} {job.repr_short()} {indent}{job.repr_main()} "
            f"{job.repr_result()} {job.repr_requires()}{_refused(job)}"
            + ("" if mark is None else f" {mark}")
        )
        if details:
            extra = job.details()
            if extra is not None:
                lines.append(str(extra))


def list_text(
    scheduler: Scheduler,
    details: bool = False,
    silence_done_jobs: bool = False,
    *,
    ascii: bool | None = None,
) -> str:
    """The listing of :meth:`Scheduler.list <jobgraph.Scheduler.list>`, as a string.

    One line per job in topological order, each ending with a newline; jobs are
    numbered first (see :func:`number_jobs`).

    Args:
        scheduler: the scheduler to list.
        details: add the text of each job's :meth:`~jobgraph.AbstractJob.details`
            under its line.
        silence_done_jobs: leave out jobs that are done.
        ascii: True or False forces the symbols; None uses unicode when stdout can
            print it.

    Returns:
        The listing.

    Raises:
        CycleError: the jobs form a cycle (see :func:`list_safe_text`).
    """
    if ascii is None and _FORCE_ASCII.get() is None:
        ascii = not _stdout_takes_unicode()  # asked once for the whole listing
    with _glyphs(ascii):
        number_jobs(scheduler)
        lines: list[str] = []
        _list_lines(scheduler, lines, details, 0, silence_done_jobs)
    return "".join(line + "\n" for line in lines)


def _list_safe_lines(scheduler: Scheduler, lines: list[str], silence_done: bool) -> None:
    for job in scheduler.jobs:
        if silence_done and not isinstance(job, Scheduler) and _listed_as_done(job):
            continue
        lines.append(
            f"{job.repr_short()} {job.repr_id()} {job.repr_main()} {job.repr_requires()}"
            f"{_refused(job)}"
        )
        if isinstance(job, Scheduler):
            _list_safe_lines(job, lines, silence_done)
            lines.append(f"--end-- {job.repr_id()}")


def list_safe_text(
    scheduler: Scheduler,
    silence_done_jobs: bool = False,
    *,
    ascii: bool | None = None,
) -> str:
    """Like :func:`list_text`, in insertion order, so it works on graphs with cycles.

    Jobs are numbered ``1``, ``2``... and the jobs of a nested scheduler numbered
    ``2`` are ``2.1``, ``2.2``...

    Args:
        scheduler: the scheduler to list.
        silence_done_jobs: leave out jobs that are done.
        ascii: True or False forces the symbols; None uses unicode when stdout can
            print it.

    Returns:
        The listing, one line per job.
    """
    with _glyphs(ascii):
        number_jobs_safe(scheduler)
        lines: list[str] = []
        _list_safe_lines(scheduler, lines, silence_done_jobs)
    return "".join(line + "\n" for line in lines)


# -- counts ------------------------------------------------------------------------------
def counts(scheduler: Scheduler) -> tuple[int, int, int, int]:
    """Count the scheduler's own jobs by where they stand.

    Done means finished whatever the outcome (completed, failed, cancelled or
    skipped); idle includes scheduled jobs waiting for a window slot.

    Args:
        scheduler: the scheduler to count.

    Returns:
        ``(done, running, idle, total)``.
    """
    done = running = 0
    jobs = tuple(scheduler.jobs)
    for job in jobs:
        state = record_of(job).state
        if state is JobState.DONE or state is JobState.SKIPPED:
            done += 1
        elif state is JobState.RUNNING:
            running += 1
    total = len(jobs)
    return done, running, total - done - running, total


def stats(scheduler: Scheduler) -> str:
    """The counts of ``scheduler.counts()`` in one line.

    Args:
        scheduler: the scheduler to count.

    Returns:
        Text like ``2D + 3R + 4I = 9``: jobs done (finished, whatever the outcome),
        running, idle (or scheduled), and in total.
    """
    done, running, idle, total = scheduler.counts()
    return f"{done}D + {running}R + {idle}I = {total}"


# -- debrief -----------------------------------------------------------------------------
def debrief_text(
    scheduler: Scheduler,
    details: bool = False,
    silence_done_jobs: bool = False,
    *,
    ascii: bool | None = None,
) -> str:
    """What :meth:`Scheduler.debrief <jobgraph.Scheduler.debrief>` prints.

    Why the run failed, the counts, the listing, then the traceback of every
    exception, critical ones first.

    Args:
        scheduler: the scheduler whose last run to describe.
        details: as for :func:`list_text`.
        silence_done_jobs: as for :func:`list_text`.
        ascii: as for :func:`list_text`.

    Returns:
        The text, several lines.

    Raises:
        CycleError: the jobs form a cycle.
    """
    with _glyphs(ascii):
        # the listing function, not scheduler.list_text: subclasses (the asynciojobs
        # drop-in's) may own the method's name
        listing = list_text(scheduler, details, silence_done_jobs)
        done, running, idle, total = scheduler.counts()
        out = [
            f"----- {scheduler.why()}",
            (
                f"----- {total} job(s): {_legible(done, 'done')}, "
                f"{_legible(running, 'running')}, {_legible(idle, 'idle or scheduled')}"
            ),
            listing.rstrip("\n"),
        ]
        failed = [
            job
            for job in scheduler.iterate_jobs(scan_schedulers=True)
            if record_of(job).exception is not None
            # a nested scheduler aborted by a critical job: that job tells the story
            and not (
                isinstance(job, Scheduler)
                and isinstance(record_of(job).exception, CriticalJobError)
            )
        ]
        if failed:
            criticals = [job for job in failed if job.critical]
            out.append(
                f"===== {len(failed)} job(s) with an exception, including {len(criticals)} critical"
            )
            others = [job for job in failed if not job.critical]
            for job in (*criticals, *others):
                kind = "CRITICAL job" if job.critical else "non-critical job"
                exc = record_of(job).exception
                assert exc is not None
                out.append(f"----- {kind} {job.repr_id()} {job.repr_short()} {job.repr_main()}")
                out.extend(
                    "    " + line
                    for chunk in traceback.format_exception(exc)
                    for line in chunk.rstrip("\n").split("\n")
                )
    return "".join(line + "\n" for line in out)
