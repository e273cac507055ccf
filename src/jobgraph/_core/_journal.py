"""The run journal: every run and every job in it, in an SQLite file; resume from it.

``await scheduler.run(journal="runs.db")`` records the run; ``resume=True`` also restores
the jobs that succeeded in the latest run of the same pipeline (same root label) instead
of running them again. Only stdlib :mod:`sqlite3`, in WAL mode.

How a journaled run goes (:class:`_JournalRun`):

1. before anything runs: every job gets its key (:func:`assign_keys`; a duplicate is
   refused) and the fingerprint of its arguments; the file is opened and checked; for a
   resume, the jobs to restore are chosen (:meth:`_JournalRun.choose_restored`);
2. one transaction writes the run's row and the rows of the restored jobs;
3. a job that succeeds hands its row over (:meth:`_JournalRun.succeeded`) before its
   dependents can start; a task of the run commits the rows gathered meanwhile in one
   short transaction, after one checkpoint, and the lag is bounded: once ``jobs_window``
   successes (256 without a window) wait, they are committed at once, in the loop.
   Commits happen in the order successes happened, so a committed job's requirements
   are committed too, and a crash loses at most that many successes. The plainest
   successes (one attempt in the event loop, no result, no arguments, no notes), most
   of a large pipeline, are written a batch to a row of table ``oks`` (their keys as a
   JSON array, their times as float64s); the others, a row each in ``jobs``;
4. when the run ends, one last transaction writes the other jobs (failed, cancelled,
   skipped, never started) and the run's outcome.

A crash (``kill -9``) loses only the jobs whose success was not yet committed: a resume
runs them again, and everything downstream of them.
"""

from __future__ import annotations

import array
import dataclasses
import itertools
import json
import os
import socket
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel

from ._codec import decode, encode, fingerprint
from ._exceptions import JobGraphError
from ._job import Job
from ._record import JobState

if TYPE_CHECKING:
    from ._job import AbstractJob
    from ._run import _Run
    from ._scheduler import Scheduler

__all__ = ["DuplicateKeyError", "JobEntry", "Journal", "JournalError", "RunInfo", "assign_keys"]

SCHEMA = 2  # 2: table oks
_APPLICATION_ID = 0x6A67726A  # "jgrj"
_SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA_SQL = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    label TEXT NOT NULL,
    started REAL NOT NULL,
    ended REAL,
    outcome TEXT,
    failure TEXT,
    backend TEXT,
    host TEXT,
    version TEXT,
    resumed_from INTEGER
);
CREATE INDEX runs_label ON runs (label, id);
CREATE TABLE jobs (
    run INTEGER NOT NULL REFERENCES runs (id),
    key TEXT NOT NULL,
    label TEXT,
    outcome TEXT NOT NULL DEFAULT 'ok',
    fingerprint TEXT,
    scheduled REAL,
    started REAL,
    ended REAL,
    attempts INTEGER DEFAULT 1,
    worker TEXT,
    result TEXT,
    unjournaled TEXT,
    exc_type TEXT,
    exc_message TEXT,
    notes TEXT,
    restored_from INTEGER
);
CREATE INDEX jobs_run ON jobs (run);
"""
# schema 2: the plainest successes of a run, a batch per row (see _JournalRun.succeeded):
# ``keys`` is a JSON array, ``times`` the (scheduled, started, ended) of each, float64s
# (little-endian) on the run loop's clock, ``offset`` what turns them into wall-clock
# times. Restored jobs without a result (``restored_from`` set) have no times. ``id`` is
# the run's id times 2**32 plus the batch's number in the run: a run's rows are a range
# of the table's own b-tree, found without an index (one page less written per commit).
_OKS_SQL = """
CREATE TABLE oks (
    id INTEGER PRIMARY KEY,
    run INTEGER NOT NULL REFERENCES runs (id),
    n INTEGER NOT NULL,
    keys TEXT NOT NULL,
    times BLOB,
    offset REAL,
    restored_from INTEGER
);
"""
_OKS_OF_RUN = "id BETWEEN ? * 4294967296 AND ? * 4294967296 + 4294967295"
# a key is unique in a run (assign_keys checks it before the run): rows are appended,
# in the order jobs end, and read back a run at a time

_INSERT_JOB = "INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
# a success, written while the run goes on: fewer columns, for speed (the label is the
# key's last part; the outcome is the column's default, "ok")
_INSERT_OK = (
    "INSERT INTO jobs (run, key, fingerprint, scheduled, started, ended, attempts, worker, "
    "result, notes) VALUES (?,?,?,?,?,?,?,?,?,?)"
)
_LAG = 256  # successes that may wait for their commit, without a jobs_window
_INSERT_PLAIN = "INSERT INTO oks (id, run, n, keys, times, offset) VALUES (?,?,?,?,?,?)"
_BIG_ENDIAN = sys.byteorder == "big"


def _keys_text(keys: list[str]) -> str:
    """``json.dumps(keys, separators=(",", ":"))``, the same text, made 4x faster (this
    is once per commit: with a small ``jobs_window``, once every few jobs)."""
    return "[" + ",".join(map(_json_string, keys)) + "]"


_json_string = json.encoder.encode_basestring_ascii  # what json.dumps uses, in C


def _times_blob(times: array.array[float]) -> bytes:
    if _BIG_ENDIAN:  # pragma: no cover - the file is little-endian everywhere
        times = array.array("d", times)
        times.byteswap()
    return times.tobytes()


def _times_of(blob: bytes) -> array.array[float]:
    times = array.array("d")
    times.frombytes(blob)
    if _BIG_ENDIAN:  # pragma: no cover
        times.byteswap()
    return times


def _has_oks(conn: sqlite3.Connection) -> bool:
    """Whether the journal has table ``oks`` (a schema-1 file read, not written, has not)."""
    return bool(conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'oks'").fetchone())


def _plain_rows(conn: sqlite3.Connection, run_id: int) -> list[tuple[Any, ...]]:
    """The rows of the plain successes of run ``run_id`` (table ``oks``), as table
    ``jobs``'s columns from ``key`` on."""
    found: list[tuple[Any, ...]] = []
    if not _has_oks(conn):
        return found
    for keys_text, times_blob, offset, restored_from in conn.execute(
        f"SELECT keys, times, offset, restored_from FROM oks WHERE {_OKS_OF_RUN} ORDER BY id",  # noqa: S608 - fixed text
        (run_id, run_id),
    ):
        keys = json.loads(keys_text)
        if times_blob is None:
            found.extend(
                (
                    key,
                    None,
                    "ok",
                    None,
                    None,
                    None,
                    None,
                    0,
                    None,
                    "null",
                    None,
                    None,
                    None,
                    None,
                    restored_from,
                )
                for key in keys
            )
            continue
        times = _times_of(times_blob)
        found.extend(
            (
                key,
                None,
                "ok",
                None,
                times[3 * at] + offset,
                times[3 * at + 1] + offset,
                times[3 * at + 2] + offset,
                1,
                None,
                "null",
                None,
                None,
                None,
                None,
                None,
            )
            for at, key in enumerate(keys)
        )
    return found


class JournalError(JobGraphError):
    """The journal cannot be used: not a jobgraph journal, a newer schema, a location
    that cannot be written, a run id that is not in it. The message names the file."""


class DuplicateKeyError(JournalError, ValueError):
    """Two jobs of a journaled pipeline have the same key (the message names it)."""


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """One run recorded in a journal.

    Attributes:
        id: the run's number in the journal (1, 2...).
        label: the root scheduler's label (the pipeline's name).
        started: wall-clock start (``time.time()``).
        ended: wall-clock end, or None if the run never ended (it crashed, or runs).
        outcome: ``"ok"``, ``"failed"``, ``"cancelled"``, ``"interrupted"``, or None if
            it never ended.
        failure: why it failed, in one line, or None.
        backend: ``"asyncio"`` or ``"trio"``.
        host: the machine that ran it.
        version: the jobgraph version that ran it.
        resumed_from: the run it resumed, or None.
        counts: number of jobs by outcome (``{"ok": 12, "failed": 1}``); restored jobs
            count under ``"restored"``.
    """

    id: int
    label: str
    started: float
    ended: float | None
    outcome: str | None
    failure: str | None
    backend: str | None
    host: str | None
    version: str | None
    resumed_from: int | None
    counts: Mapping[str, int]

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, or None if the run never ended."""
        return None if self.ended is None else self.ended - self.started

    def as_dict(self) -> dict[str, Any]:
        """The run as JSON-ready data.

        Returns:
            Every attribute, plus ``duration``.
        """
        data = dataclasses.asdict(self)
        data["counts"] = dict(self.counts)
        data["duration"] = self.duration
        return data


@dataclasses.dataclass(frozen=True)
class JobEntry:
    """One job in one journaled run.

    Attributes:
        key: the job's key (its identity across runs).
        label: the job's label (None for a job that succeeded: its key ends with it).
        outcome: ``ok``, ``failed``, ``cancelled``, ``skipped``, ``idle``,
            ``scheduled``, ``running`` (the last three: it never finished).
        fingerprint: digest of the job's plain-data arguments, or None.
        scheduled: wall-clock time its requirements were all done, or None.
        started: wall-clock start of its body, or None.
        ended: wall-clock end, or None.
        attempts: how many times its body started.
        worker: where an executor ran it, or None.
        result_text: its result as the journal holds it (JSON), or None.
        unjournaled: why its result could not be journaled, or None.
        exc_type: the exception's type name, or None.
        exc_message: the exception's message, or None.
        notes: what the job told while it ran (``emit_note``), as text, or None.
        restored_from: for a job restored on resume, the run whose result it kept.
    """

    key: str
    label: str | None
    outcome: str
    fingerprint: str | None
    scheduled: float | None
    started: float | None
    ended: float | None
    attempts: int | None
    worker: str | None
    result_text: str | None
    unjournaled: str | None
    exc_type: str | None
    exc_message: str | None
    notes: str | None
    restored_from: int | None

    @property
    def duration(self) -> float | None:
        """Seconds the body ran, or None."""
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started

    @property
    def result(self) -> Any:
        """The journaled result, decoded (None if there is none)."""
        return None if self.result_text is None else decode(self.result_text)

    def as_dict(self) -> dict[str, Any]:
        """The job as JSON-ready data.

        Returns:
            Every attribute, plus ``duration``.
        """
        data = dataclasses.asdict(self)
        data["duration"] = self.duration
        return data


class Journal:
    """A journal file: where runs are recorded, and read back.

    ``jobgraph.run(pipeline, journal="runs.db")`` records a run; ``journal=`` also takes
    a :class:`Journal`. Reading needs no run: ``Journal("runs.db").runs()``.

    Args:
        path: the SQLite file. It is created on the first run that writes it.
        timeout: seconds to wait for another process writing the same file.

    Raises:
        JobDefinitionError: ``path`` is not a path.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        from ._exceptions import JobDefinitionError

        if not isinstance(path, str | os.PathLike):
            raise JobDefinitionError(f"Journal() takes a file path, not {path!r}")
        self.path = Path(path)
        self.timeout = float(timeout)

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    # -- opening -----------------------------------------------------------------------
    def _check_file(self) -> bool:
        """Whether the file holds something (checked to be a jobgraph journal's start)."""
        path = self.path
        try:
            with path.open("rb") as file:
                head = file.read(len(_SQLITE_MAGIC))
        except FileNotFoundError:
            return False
        except IsADirectoryError:
            raise JournalError(f"journal {str(path)!r} is a directory, not a file") from None
        except OSError as exc:
            raise JournalError(f"cannot read journal {str(path)!r}: {exc}") from None
        if not head:
            return False
        if head != _SQLITE_MAGIC:
            raise JournalError(
                f"{str(path)!r} is not a jobgraph journal (not an SQLite file); it was left "
                "untouched: give another path"
            )
        return True

    def _check_schema(self, conn: sqlite3.Connection) -> bool:
        """Whether the schema is there (False: an empty database).

        The three reads are one snapshot (one read transaction): another process that
        creates the schema meanwhile is seen either before or after, never half-way
        (tables there, but not yet the application id).
        """
        conn.execute("BEGIN")
        try:
            app = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        finally:
            conn.execute("COMMIT")
        if app != _APPLICATION_ID:
            if app == 0 and tables == 0:
                return False
            raise JournalError(
                f"{str(self.path)!r} is an SQLite file but not a jobgraph journal; it was "
                "left untouched: give another path"
            )
        if version > SCHEMA:
            raise JournalError(
                f"journal {str(self.path)!r} was written by a newer jobgraph (schema "
                f"{version}; this one knows up to {SCHEMA}): upgrade jobgraph to use it"
            )
        return True

    def _connect(self, *, write: bool) -> sqlite3.Connection | None:
        """A connection, the file checked (None: reading a journal that does not exist)."""
        exists = self._check_file()
        if not write and not exists:
            return None
        if write:
            parent = self.path.parent
            if not exists and not os.access(parent if str(parent) else ".", os.W_OK):
                raise JournalError(
                    f"cannot create journal {str(self.path)!r}: its directory is not "
                    "writable (give a path where files can be created)"
                )
            if exists and not os.access(self.path, os.W_OK):
                raise JournalError(f"cannot write journal {str(self.path)!r}: it is read-only")
            if exists and not os.access(parent if str(parent) else ".", os.W_OK):
                raise JournalError(
                    f"cannot write journal {str(self.path)!r}: its directory is not writable "
                    "(SQLite keeps its -wal and -shm files beside it); it was left untouched"
                )
        conn = self._open(write=write)
        try:
            try:
                ready = self._check_schema(conn)
            except sqlite3.DatabaseError as exc:
                if write or not _read_only_location(exc) or self._has_wal():
                    raise self._refusal(exc) from None
                # a journal in a read-only location: SQLite cannot make its -shm file
                # there; and with no -wal file, nothing is writing it
                conn.close()
                conn = self._open(write=False, immutable=True)
                try:
                    ready = self._check_schema(conn)
                except sqlite3.DatabaseError as again:  # changed while read, maybe
                    raise JournalError(
                        f"cannot read journal {str(self.path)!r} in its read-only location: {again}"
                    ) from None
            if write:
                self._use_wal(conn)
                conn.execute("PRAGMA synchronous=NORMAL")
                if not ready or conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA:
                    self._create(conn)
            elif not ready:
                conn.close()
                return None
        except BaseException:
            conn.close()
            raise
        return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Ask for WAL mode (a no-op when the file is in it already).

        SQLite does not wait for this one: while another connection holds the write lock
        of a file not yet in WAL mode (another process creating the journal), it answers
        "database is locked" at once. So the switch is tried again, with short sleeps,
        for up to ``timeout`` seconds, as SQLite waits for other locks.
        """
        deadline = time.monotonic() + self.timeout
        pause = 0.001
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    raise
                busy = str(exc)
            else:
                return
            if time.monotonic() >= deadline:
                raise JournalError(
                    f"cannot write journal {str(self.path)!r}: it stayed locked by another "
                    f"process for {self.timeout:g} s ({busy}); try again, or give "
                    "Journal(..., timeout=) more time"
                )
            time.sleep(pause)
            pause = min(2 * pause, 0.05)

    def _refusal(self, exc: sqlite3.DatabaseError) -> JournalError:
        """The error for a file SQLite refused: not a journal, or not readable."""
        if exc.sqlite_errorname in {"SQLITE_NOTADB", "SQLITE_CORRUPT"}:
            return JournalError(
                f"{str(self.path)!r} is not a jobgraph journal ({exc}); it was left "
                "untouched: give another path"
            )
        return JournalError(f"cannot read journal {str(self.path)!r}: {exc}")

    def _open(self, *, write: bool, immutable: bool = False) -> sqlite3.Connection:
        try:
            if write:
                return sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            return sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro{'&immutable=1' if immutable else ''}",
                uri=True,
                timeout=self.timeout,
                isolation_level=None,
            )
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open journal {str(self.path)!r}: {exc}") from None

    def _has_wal(self) -> bool:
        return self.path.with_name(self.path.name + "-wal").exists()

    def _create(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # another process may have created it meanwhile
            if conn.execute("PRAGMA application_id").fetchone()[0] != _APPLICATION_ID:
                for statement in (_SCHEMA_SQL + _OKS_SQL).split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA application_id={_APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version={SCHEMA}")
            elif conn.execute("PRAGMA user_version").fetchone()[0] < 2:
                for statement in _OKS_SQL.split(";"):  # a schema-1 journal, upgraded
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={SCHEMA}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _read(self) -> sqlite3.Connection | None:
        try:
            return self._connect(write=False)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot read journal {str(self.path)!r}: {exc}") from None

    # -- reading -----------------------------------------------------------------------
    def runs(self, label: str | None = None) -> list[RunInfo]:
        """The recorded runs, oldest first.

        Args:
            label: only the runs of the pipeline with this root label.

        Returns:
            One :class:`RunInfo` per run (an empty list if the file does not exist).

        Raises:
            JournalError: the file is not a jobgraph journal, or is from a newer schema.
        """
        conn = self._read()
        if conn is None:
            return []
        try:
            where, params = ("WHERE label = ?", (label,)) if label is not None else ("", ())
            rows = conn.execute(f"SELECT * FROM runs {where} ORDER BY id", params).fetchall()  # noqa: S608 - fixed text
            counts: dict[int, dict[str, int]] = {}
            for run, outcome, restored, number in conn.execute(
                "SELECT run, outcome, restored_from IS NOT NULL, count(*) FROM jobs "
                "GROUP BY run, outcome, restored_from IS NOT NULL"
            ):
                name = "restored" if restored else outcome
                per = counts.setdefault(run, {})
                per[name] = per.get(name, 0) + number
            if _has_oks(conn):
                for run, restored, number in conn.execute(
                    "SELECT run, restored_from IS NOT NULL, sum(n) FROM oks "
                    "GROUP BY run, restored_from IS NOT NULL"
                ):
                    name = "restored" if restored else "ok"
                    per = counts.setdefault(run, {})
                    per[name] = per.get(name, 0) + number
        finally:
            conn.close()
        return [
            RunInfo(
                id=row[0],
                label=row[1],
                started=row[2],
                ended=row[3],
                outcome=row[4],
                failure=row[5],
                backend=row[6],
                host=row[7],
                version=row[8],
                resumed_from=row[9],
                counts=counts.get(row[0], {}),
            )
            for row in rows
        ]

    def run(self, run_id: int | str = "latest") -> RunInfo:
        """One recorded run.

        Args:
            run_id: the run's id, or ``"latest"``.

        Returns:
            Its :class:`RunInfo`.

        Raises:
            JournalError: no such run (or not a journal).
        """
        runs = self.runs()
        if not runs:
            raise JournalError(f"journal {str(self.path)!r} holds no run")
        if run_id == "latest":
            return runs[-1]
        for info in runs:
            if info.id == _run_number(run_id):
                return info
        raise JournalError(
            f"journal {str(self.path)!r} has no run {run_id!r} (runs {runs[0].id} to {runs[-1].id})"
        )

    def jobs(self, run_id: int | str = "latest") -> list[JobEntry]:
        """The jobs of one run, in the order they ended (never-ended ones last).

        Args:
            run_id: the run's id, or ``"latest"``.

        Returns:
            One :class:`JobEntry` per job.

        Raises:
            JournalError: no such run (or not a journal).
        """
        info = self.run(run_id)
        conn = self._read()
        assert conn is not None
        try:
            rows = conn.execute(
                "SELECT key, label, outcome, fingerprint, scheduled, started, ended, attempts, "
                "worker, result, unjournaled, exc_type, exc_message, notes, restored_from "
                "FROM jobs WHERE run = ?",
                (info.id,),
            ).fetchall()
            rows.extend(_plain_rows(conn, info.id))
        finally:
            conn.close()
        rows.sort(key=_end_order)
        return [JobEntry(*row) for row in rows]

    def debrief(self, run_id: int | str = "latest") -> str:
        """A past run told like :meth:`Scheduler.debrief_text`: its outcome, then each
        job that did not simply succeed, then the counts.

        Args:
            run_id: the run's id, or ``"latest"``.

        Returns:
            The text.

        Raises:
            JournalError: no such run (or not a journal).
        """
        info = self.run(run_id)
        jobs = self.jobs(info.id)
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.started))
        duration = "never ended" if info.duration is None else f"{info.duration:.3f}s"
        lines = [
            (
                f"run {info.id} of {info.label!r} on {info.host} ({info.backend}), {when}, "
                f"{duration}: {info.outcome or 'did not finish'}"
            )
        ]
        if info.resumed_from is not None:
            lines.append(f"resumed from run {info.resumed_from}")
        if info.failure:
            lines.append(f"failure: {info.failure}")
        for job in jobs:
            duration = "" if job.duration is None else f" {job.duration:.3f}s"
            if job.restored_from is not None:
                lines.append(f"  ↺ restored {job.key} (from run {job.restored_from})")
            elif job.outcome == "ok":
                extra = f" (result not journaled: {job.unjournaled})" if job.unjournaled else ""
                lines.append(f"  ok {job.key}{duration}{extra}")
            elif job.exc_type is not None:
                lines.append(
                    f"  {job.outcome} {job.key}{duration}: {job.exc_type}: {job.exc_message}"
                )
            else:
                lines.append(f"  {job.outcome} {job.key}{duration}")
        counts = ", ".join(f"{number} {name}" for name, number in sorted(info.counts.items()))
        lines.append(f"{len(jobs)} jobs: {counts or 'none'}")
        return "\n".join(lines)

    def diff(
        self, run_a: int | str, run_b: int | str, *, threshold: float = 0.5
    ) -> list[dict[str, Any]]:
        """The jobs that changed from one run to another.

        Args:
            run_a: the earlier run's id.
            run_b: the later run's id (or ``"latest"``).
            threshold: a duration change counts when it is more than this fraction of the
                earlier duration (0.5: 50% slower or faster) and more than 10 ms.

        Returns:
            One dict per changed job: ``key``, ``before`` and ``after`` (outcomes, None if
            the job is not in that run), ``duration_before``, ``duration_after``, and
            ``change`` (``"outcome"``, ``"duration"``, ``"added"`` or ``"removed"``).

        Raises:
            JournalError: no such run.
        """
        before = {job.key: job for job in self.jobs(run_a)}
        after = {job.key: job for job in self.jobs(run_b)}
        changes: list[dict[str, Any]] = []
        for key in sorted(before.keys() | after.keys()):
            old, new = before.get(key), after.get(key)
            old_outcome = None if old is None else _shown_outcome(old)
            new_outcome = None if new is None else _shown_outcome(new)
            old_duration = None if old is None else old.duration
            new_duration = None if new is None else new.duration
            if old is None:
                change = "added"
            elif new is None:
                change = "removed"
            elif _as_ok(old_outcome) != _as_ok(new_outcome):
                change = "outcome"
            elif (
                old_duration is not None
                and new_duration is not None
                and abs(new_duration - old_duration) > max(0.01, threshold * old_duration)
            ):
                change = "duration"
            else:
                continue
            changes.append(
                {
                    "key": key,
                    "change": change,
                    "before": old_outcome,
                    "after": new_outcome,
                    "duration_before": old_duration,
                    "duration_after": new_duration,
                }
            )
        return changes


def _read_only_location(exc: sqlite3.DatabaseError) -> bool:
    """Whether SQLite failed because it could not create a file beside the journal."""
    name = exc.sqlite_errorname or ""
    return name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN"))


def _end_order(row: tuple[Any, ...]) -> tuple[bool, float, str]:
    ended = row[6]
    return (ended is None, 0.0 if ended is None else ended, row[0])


def _shown_outcome(job: JobEntry) -> str:
    return "restored" if job.restored_from is not None else job.outcome


def _as_ok(outcome: str | None) -> str | None:
    return "ok" if outcome == "restored" else outcome


def _run_number(run_id: int | str) -> int:
    try:
        return int(run_id)
    except (TypeError, ValueError):
        raise JournalError(f"a run id is a number or 'latest', not {run_id!r}") from None


# -- keys -------------------------------------------------------------------------------
def assign_keys(root: Scheduler) -> dict[AbstractJob, str]:
    """Every job's key: its label path from ``root``, with ``[i]`` where labels repeat
    among siblings, unless the job has its own ``key=``.

    Args:
        root: the root scheduler.

    Returns:
        The key of every job, nested ones included.

    Raises:
        DuplicateKeyError: two jobs get the same key.
    """
    keys: dict[AbstractJob, str] = {}
    seen_functions: dict[Any, str] = {}
    # keys made of labels without "/" and "[" (no key= given) are unique by
    # construction: a "/" per level, an index among siblings only where labels repeat
    unsure = False

    def level(scheduler: Scheduler, prefix: str) -> None:
        nonlocal unsure
        jobs = scheduler._jobs
        labels = [_label_of(job, seen_functions) for job in jobs]
        counts = Counter(labels)
        if not unsure and (
            any("/" in label or "[" in label for label in counts)
            or any(job._key is not None for job in jobs)
        ):
            unsure = True
        counters = {label: itertools.count() for label, number in counts.items() if number > 1}
        made = [
            job._key
            or (
                f"{prefix}{label}[{next(counters[label])}]" if label in counters else prefix + label
            )
            for job, label in zip(jobs, labels, strict=True)
        ]
        keys.update(zip(jobs, made, strict=True))
        for job in jobs:
            if job._is_scheduler:
                level(job, keys[job] + "/")  # type: ignore[arg-type]

    level(root, "")
    if unsure and len(set(keys.values())) != len(keys):
        owners: dict[str, AbstractJob] = {}
        for job, key in keys.items():
            other = owners.setdefault(key, job)
            if other is not job:
                raise DuplicateKeyError(
                    f"key {key!r} is used by two jobs ({other.label!r} and {job.label!r}); "
                    "give one of them another key= (nothing ran)"
                )
    return keys


def _label_of(job: AbstractJob, seen: dict[Any, str]) -> str:
    """``job.label``, computed once per function for plain jobs without a label."""
    label = job._label
    if label is not None:
        return label
    if type(job) is Job:
        function = job.function
        try:
            known = seen.get(function)
        except TypeError:  # an unhashable callable
            return job.label
        if known is None:
            known = seen[function] = job.label
        return known
    return job.label


# -- writing: one run -------------------------------------------------------------------
class _Previous:
    """What the resumed run left: per key, (outcome, fingerprint, result, restored_from,
    unjournaled, plain) (plain: a row of table ``oks``)."""

    def __init__(self, run_id: int, rows: dict[str, tuple[Any, ...]]) -> None:
        self.run_id = run_id
        self.rows = rows


def _wall_offset(now: float) -> float:
    return time.time() - now


class _JournalRun:
    """The journal's side of one top-level run (and its nested runs)."""

    def __init__(self, journal: Journal, root: Scheduler, resume: bool | int) -> None:
        self.journal = journal
        self.root = root
        self.keys = assign_keys(root)
        self.schedulers = [job for job in self.keys if job._is_scheduler]  # nested ones
        # the fingerprints of the jobs with one (a plain job without arguments has
        # nothing to compare: the common case, left out, fast)
        self.fingerprints = {
            job: fingerprint(job.journal_fingerprint())
            for job in self.keys
            if type(job) is not Job or job.args or job.kwargs
        }
        self.conn: sqlite3.Connection | None = None
        self.run_id = 0
        self.offset = 0.0
        self.rows: list[tuple[Any, ...]] = []
        # the plain successes waiting (table oks): keys, and 3 times each
        self.plain_keys: list[str] = []
        self.plain_times: list[float] = []
        self.waiting = 0  # successes not committed yet
        self.batches = 0  # rows written to table oks (see _OKS_SQL)
        # successes committed, or None once a retry took some out (see finish)
        self.written: int | None = 0
        self.root_run: _Run | None = None
        # successes written but not committed, at most: a crash loses no more
        self.lag = root.jobs_window or _LAG
        self.armed = False
        self.restored: dict[AbstractJob, tuple[Any, ...]] = {}
        self.marks: dict[AbstractJob, str] = {}
        self.error: BaseException | None = None
        self.previous: _Previous | None = None
        conn = journal._connect(write=True)
        assert conn is not None
        self.conn = conn
        try:
            if resume is not False and resume is not None:
                self.previous = self._previous(resume)
                if self.previous is not None:
                    self.choose_restored(root)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _previous(self, resume: bool | int) -> _Previous | None:
        assert self.conn is not None
        if resume is True:
            row = self.conn.execute(
                "SELECT max(id) FROM runs WHERE label = ?", (self.root.label,)
            ).fetchone()
            if row[0] is None:
                return None
            run_id = row[0]
        else:
            run_id = _run_number(resume)
            if not self.conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
                raise JournalError(f"journal {str(self.journal.path)!r} has no run {run_id}")
        rows = {
            row[0]: (*row[1:], False)
            for row in self.conn.execute(
                "SELECT key, outcome, fingerprint, result, restored_from, unjournaled "
                "FROM jobs WHERE run = ?",
                (run_id,),
            )
        }
        if _has_oks(self.conn):
            for keys_text, restored_from in self.conn.execute(
                f"SELECT keys, restored_from FROM oks WHERE {_OKS_OF_RUN}",  # noqa: S608
                (run_id, run_id),
            ):
                row = ("ok", None, "null", restored_from, None, True)
                rows.update(dict.fromkeys(json.loads(keys_text), row))
        return _Previous(run_id, rows)

    def choose_restored(self, scheduler: Scheduler) -> bool:
        """Mark the jobs of ``scheduler`` (recursively) to restore; True if all are.

        A job is restored when it succeeded last time with the same fingerprint and a
        journaled result, is not a forever job, and every job it requires is restored
        (requirements are decided first: a depth-first walk, no recursion).
        """
        jobs = scheduler._jobs
        decided: dict[AbstractJob, bool] = {}
        visiting: set[AbstractJob] = set()
        for top in jobs:
            if top in decided:
                continue
            stack: list[tuple[AbstractJob, bool]] = [(top, False)]
            while stack:
                job, expanded = stack.pop()
                if job in decided:
                    continue
                if not expanded:
                    if job in visiting:  # a cycle: run() refuses it soon
                        continue
                    visiting.add(job)
                    stack.append((job, True))
                    stack.extend(
                        (requirement, False)
                        for requirement in job._requires
                        if requirement not in decided and requirement in jobs
                    )
                    continue
                decided[job] = self._decide(job, decided)
        return all(decided.values())

    def _decide(self, job: AbstractJob, decided: dict[AbstractJob, bool]) -> bool:
        assert self.previous is not None
        row = self.previous.rows.get(self.keys[job])
        keep = (
            row is not None
            and row[0] == "ok"
            and not job.forever
            and all(decided.get(requirement, False) for requirement in job._requires)
        )
        if keep and row is not None:
            if row[4] is not None:
                keep = False
                self.marks[job] = f"ran again: its result was not journaled ({row[4]})"
            elif row[1] != self.fingerprints.get(job):
                keep = False
                self.marks[job] = "ran again: its arguments changed"
        if job._is_scheduler:
            requirements_kept = all(
                decided.get(requirement, False) for requirement in job._requires
            )
            # its jobs ran after a requirement that runs again: none of them is kept
            if not requirements_kept or not self.choose_restored(job):  # type: ignore[arg-type]
                keep = False
        if keep and row is not None:
            self.restored[job] = row
            self.marks[job] = "↺ restored"
        return keep

    # -- the run's row, restored jobs ----------------------------------------------------
    def begin(self, now: float) -> None:
        """Write the run's row and the restored jobs' rows (one transaction), and set
        the restored jobs' records."""
        import sniffio

        conn = self.conn
        assert conn is not None
        self.offset = _wall_offset(now)
        try:
            backend = sniffio.current_async_library()
        except sniffio.AsyncLibraryNotFoundError:  # pragma: no cover - always in a loop
            backend = None
        previous = None if self.previous is None else self.previous.run_id
        started = time.time()
        try:
            conn.execute("BEGIN IMMEDIATE")
            cursor = conn.execute(
                "INSERT INTO runs (label, started, backend, host, version, resumed_from) "
                "VALUES (?,?,?,?,?,?)",
                (self.root.label, started, backend, socket.gethostname(), _version(), previous),
            )
            assert cursor.lastrowid is not None
            self.run_id = cursor.lastrowid
            if self.restored:
                # the previous run's successes, copied in C; then the few not restored
                # (a changed fingerprint, a requirement that runs again) taken out
                conn.execute(
                    "INSERT INTO jobs (run, key, label, outcome, fingerprint, attempts, "
                    "result, restored_from) SELECT ?, key, label, 'ok', fingerprint, 0, "
                    "result, coalesce(restored_from, ?) FROM jobs "
                    "WHERE run = ? AND outcome = 'ok' AND unjournaled IS NULL",
                    (self.run_id, previous, previous),
                )
                restored_keys = {self.keys[job] for job in self.restored}
                assert self.previous is not None
                dropped = [
                    (self.run_id, key)
                    for key, row in self.previous.rows.items()
                    if row[0] == "ok" and row[4] is None and not row[5] and key not in restored_keys
                ]
                if dropped:
                    conn.executemany("DELETE FROM jobs WHERE run = ? AND key = ?", dropped)
                # the plain ones: a row of keys per run they come from
                plain: dict[int | None, list[str]] = {}
                keys = self.keys
                for job, row in self.restored.items():
                    if row[5]:
                        plain.setdefault(row[3] or previous, []).append(keys[job])
                conn.executemany(
                    "INSERT INTO oks (id, run, n, keys, restored_from) VALUES (?,?,?,?,?)",
                    [
                        (self._batch_id(), self.run_id, len(keys), _keys_text(keys), origin)
                        for origin, keys in plain.items()
                    ],
                )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise JournalError(f"cannot write journal {str(self.journal.path)!r}: {exc}") from None
        for job, row in self.restored.items():
            _restore_record(job, row)
        self._set_marks()

    def _set_marks(self) -> None:
        for job, mark in self.marks.items():
            owner = job._owner() if job._owner is not None else None
            if owner is not None:
                if not owner._journal_marks:
                    owner._journal_marks = {}
                owner._journal_marks[job] = mark

    def _batch_id(self) -> int:
        """The id of the run's next row in table ``oks``."""
        self.batches += 1
        return (self.run_id << 32) + self.batches

    def retrying(self, scheduler: Scheduler) -> None:
        """Nested ``scheduler`` is retried, its jobs reset: those that run again lose
        the rows of their successes in this run (a key has one row per run); the
        restored ones stay restored."""
        self.commit()
        conn = self.conn
        if conn is None or self.error is not None:
            return
        restored = self.restored
        gone: set[str] = set()
        for job in scheduler._every_job():
            row = restored.get(job)
            if row is not None:
                _restore_record(job, row)
                continue
            gone.add(self.keys[job])
            mark = self.marks.get(job)  # what the last attempt's result was is gone
            if mark is not None and "result not journaled" in mark:
                kept = mark.split("; result not journaled")[0]
                if kept.startswith("result not journaled"):
                    del self.marks[job]
                else:
                    self.marks[job] = kept
        self._set_marks()
        if not gone:
            return
        self.written = None
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "DELETE FROM jobs WHERE run = ? AND key = ?",
                [(self.run_id, key) for key in gone],
            )
            for rowid, keys_text, times_blob in conn.execute(
                f"SELECT id, keys, times FROM oks WHERE {_OKS_OF_RUN} "  # noqa: S608
                "AND restored_from IS NULL",
                (self.run_id, self.run_id),
            ).fetchall():
                keys = json.loads(keys_text)
                kept_at = [at for at, key in enumerate(keys) if key not in gone]
                if len(kept_at) == len(keys):
                    continue
                if not kept_at:
                    conn.execute("DELETE FROM oks WHERE id = ?", (rowid,))
                    continue
                times = _times_of(times_blob)
                conn.execute(
                    "UPDATE oks SET n = ?, keys = ?, times = ? WHERE id = ?",
                    (
                        len(kept_at),
                        _keys_text([keys[at] for at in kept_at]),
                        _times_blob(
                            array.array(
                                "d", [times[3 * at + i] for at in kept_at for i in range(3)]
                            )
                        ),
                        rowid,
                    ),
                )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self.error = JournalError(f"cannot write journal {str(self.journal.path)!r}: {exc}")
            if self.root_run is not None:
                self.root_run.journal_failed(self.error)

    def restored_in(self, run: _Run) -> set[AbstractJob] | None:
        """The restored jobs of ``run`` (None if there is none), as it starts."""
        if run.scheduler is self.root:
            self.root_run = run  # cancelled if the journal cannot be written
        if not self.restored:
            return None
        found = {job for job in run.jobs if job in self.restored}
        return found or None

    # -- successes, committed in batches ---------------------------------------------------
    def row(self, job: AbstractJob, outcome: str) -> tuple[Any, ...]:
        record = job._record
        offset = self.offset
        result = unjournaled = exc_type = exc_message = None
        if outcome == "ok":
            value = record.result
            if value is None:
                result = "null"
            else:
                result, unjournaled = encode(value)
            if unjournaled is not None:
                said = self.marks.get(job)
                mark = f"result not journaled: {unjournaled}"
                self.marks[job] = mark if said is None else f"{said}; {mark}"
        elif record.exception is not None:
            exc_type = type(record.exception).__name__
            exc_message = str(record.exception)
        notes = _notes_text(job)
        scheduled, started, ended = record.scheduled_at, record.started_at, record.ended_at
        return (
            self.run_id,
            self.keys[job],
            job.label,
            outcome,
            self.fingerprints.get(job),
            None if scheduled is None else scheduled + offset,
            None if started is None else started + offset,
            None if ended is None else ended + offset,
            record.attempts,
            record.worker,
            result,
            unjournaled,
            exc_type,
            exc_message,
            notes,
            None,
        )

    def ok_row(self, job: AbstractJob, notes: str | None) -> tuple[Any, ...]:
        """The row of a success (see ``_INSERT_OK``)."""
        record = job._record
        offset = self.offset
        value = record.result
        result: str | None = "null"
        if value is not None:
            result, unjournaled = encode(value)
            if unjournaled is not None:
                return self.row(job, "ok")  # the whole row says why
        scheduled = record.scheduled_at
        return (
            self.run_id,
            self.keys[job],
            self.fingerprints.get(job),
            None if scheduled is None else scheduled + offset,
            record.started_at + offset,  # type: ignore[operator]  # it ran
            record.ended_at + offset,  # type: ignore[operator]
            record.attempts,
            record.worker,
            result,
            notes,
        )

    def succeeded(self, run: _Run, job: AbstractJob) -> None:
        """``job`` succeeded: its row is committed soon, at the latest once ``lag``
        successes wait (then at once, before its dependents can start)."""
        record = job._record
        notes = run.scheduler._job_notes
        if (
            record.result is None
            and job not in self.fingerprints
            and record.attempts == 1
            and record.worker is None
            and record.scheduled_at is not None
            and (not notes or job not in notes)
        ):
            self.plain_keys.append(self.keys[job])
            self.plain_times += (  # type: ignore[arg-type]  # it ran: times are set
                record.scheduled_at,
                record.started_at,
                record.ended_at,
            )
        else:
            self.rows.append(self.ok_row(job, _notes_text(job)))
        self.waiting += 1
        if self.waiting >= self.lag:
            self.commit()
        elif not self.armed:
            self.armed = True
            run.tg.start_soon(self.commit_soon)

    async def commit_soon(self) -> None:
        try:
            await anyio.lowlevel.checkpoint()  # let the jobs ready meanwhile end first
        finally:
            self.armed = False
            self.commit()

    def commit(self) -> None:
        """Commit the rows gathered (synchronous, short)."""
        if not self.waiting:
            return
        rows, keys, times = self.rows, self.plain_keys, self.plain_times
        self.rows, self.plain_keys, self.plain_times, self.waiting = [], [], [], 0
        conn = self.conn
        if conn is not None and self.error is None:
            try:
                if keys:
                    self.batches += 1
                    plain = (
                        (self.run_id << 32) + self.batches,  # see _batch_id
                        self.run_id,
                        len(keys),
                        _keys_text(keys),
                        _times_blob(array.array("d", times)),
                        self.offset,
                    )
                    if not rows:
                        # one statement is a transaction of its own (autocommit): no
                        # BEGIN and COMMIT to send, a tenth of a commit's cost saved
                        conn.execute(_INSERT_PLAIN, plain)
                        if self.written is not None:
                            self.written += len(keys)
                        return
                conn.execute("BEGIN IMMEDIATE")
                if keys:
                    conn.execute(_INSERT_PLAIN, plain)
                conn.executemany(_INSERT_OK, [row for row in rows if len(row) == 10])
                whole = [row for row in rows if len(row) != 10]
                if whole:
                    conn.executemany(_INSERT_JOB, whole)
                conn.execute("COMMIT")
                if self.written is not None:
                    self.written += len(keys) + len(rows)
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self.error = JournalError(f"cannot write journal {str(self.journal.path)!r}: {exc}")
        if self.error is not None and self.root_run is not None:
            self.root_run.journal_failed(self.error)

    def abandon(self) -> None:
        """Stop writing at once, as a ``kill -9`` would stop it: the successes waiting
        for their commit are dropped, nothing more is written (not the other jobs, not
        the run's end), and the file is closed.

        Faithful to a crash because every write is a synchronous transaction made in the
        event loop's thread (no writer thread): between two steps of the loop the file
        holds exactly the transactions committed so far, and no transaction is open. A
        kill at that moment loses what is only in memory, the rows waiting here, and
        what the run would have written later. Closing the connection adds nothing to
        the file's content (SQLite may move committed pages from the WAL into the main
        file, which a reader cannot tell apart).
        """
        self.rows, self.plain_keys, self.plain_times, self.waiting = [], [], [], 0
        self.close()

    # -- the end -----------------------------------------------------------------------
    def finish(self, outcome: str, failure: BaseException | None) -> None:
        """Write every job not written yet and the run's outcome; close the file."""
        self.commit()
        conn = self.conn
        if conn is None:
            return
        self._set_marks()
        try:
            done = JobState.DONE
            restored = self.restored
            rows = []
            everything = self.written is not None and self.written + len(restored) == len(self.keys)
            for job in () if everything else self.keys:  # every job written: none left
                record = job._record
                if job in restored or (
                    # successes were written as they happened (forever jobs' are not)
                    record.state is done
                    and record.exception is None
                    and not record.cancelled
                    and not job.forever
                ):
                    continue
                rows.append(self.row(job, record.outcome))
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_INSERT_JOB, rows)
            conn.execute(
                "UPDATE runs SET ended = ?, outcome = ?, failure = ? WHERE id = ?",
                (
                    time.time(),
                    outcome,
                    None if failure is None else f"{type(failure).__name__}: {failure}",
                    self.run_id,
                ),
            )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if self.error is None:
                self.error = JournalError(f"cannot write journal {str(self.journal.path)!r}: {exc}")
        finally:
            self.close()


def _restore_record(job: AbstractJob, row: tuple[Any, ...]) -> None:
    """Set the record of restored ``job`` as done, with its journaled result."""
    record = job._record
    record.state = JobState.DONE
    text = row[2]
    record.result = None if text == "null" else decode(text)


def _notes_text(job: AbstractJob) -> str | None:
    owner = job._owner() if job._owner is not None else None
    if owner is None or not owner._job_notes:
        return None
    notes = owner._job_notes.get(job)
    if not notes:
        return None
    return "\n".join(note for _, note, _ in notes)


def _version() -> str | None:
    import sys

    # the package's own version (jobgraph imports the engine, so it is there)
    version = getattr(sys.modules.get("jobgraph"), "__version__", None)
    return version if isinstance(version, str) else None
