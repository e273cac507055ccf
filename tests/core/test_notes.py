"""emit_note: a running job tells the run's subscribers something of its own."""

from __future__ import annotations

import pytest

import jobgraph as jg
from jobgraph.lowlevel import emit_note, notes_of

pytestmark = pytest.mark.anyio


class Chatty(jg.AbstractJob):
    """A job kind that tells its progress, as SSH jobs tell their connection state."""

    def __init__(self, **options: object) -> None:
        self.sent: list[bool] = []
        super().__init__(**options)  # type: ignore[arg-type]

    async def run(self) -> str:
        self.sent.append(emit_note(self, "connecting", host="h1", port=22))
        self.sent.append(emit_note(self, "connected"))
        return "done"


async def test_notes_reach_subscribers_in_order_with_the_job_events() -> None:
    job = Chatty(label="chatty")
    inner = jg.Scheduler(job, label="inner")
    outer = jg.Scheduler(inner, label="outer")
    seen: list[jg.JobEvent] = []
    outer.subscribe(seen.append)
    assert await outer.run()
    mine = [(e.kind, e.note) for e in seen if e.job is job]
    assert mine == [
        (jg.EventKind.SCHEDULED, ""),
        (jg.EventKind.STARTED, ""),
        (jg.EventKind.NOTE, "connecting"),
        (jg.EventKind.NOTE, "connected"),
        (jg.EventKind.FINISHED, ""),
    ]
    note = next(e for e in seen if e.kind is jg.EventKind.NOTE)
    assert note.scheduler is inner  # the nested scheduler's events reach the outer one
    assert note.data == {"host": "h1", "port": 22}
    assert str(note).endswith("note 'chatty' in 'inner': connecting (host=h1, port=22)")
    assert job.sent == [True, True]


async def test_without_subscribers_notes_are_kept_for_the_report() -> None:
    job = Chatty(label="chatty")
    scheduler = jg.Scheduler(job)
    assert await scheduler.run()
    assert job.sent == [False, False]  # nobody listens
    kept = notes_of(job)
    assert [(note, dict(data)) for _, note, data in kept] == [
        ("connecting", {"host": "h1", "port": 22}),
        ("connected", {}),
    ]
    record = jg.lowlevel.record_of(job)
    assert record.started_at is not None and record.ended_at is not None
    assert record.started_at <= kept[0][0] <= kept[1][0] <= record.ended_at
    (entry,) = [j for j in scheduler.report()["jobs"] if j["label"] == "chatty"]
    assert [n["note"] for n in entry["notes"]] == ["connecting", "connected"]
    assert entry["notes"][0]["data"] == {"host": "h1", "port": 22}
    scheduler.reset()
    assert await scheduler.run()
    assert len(notes_of(job)) == 2  # the last run's only


async def test_outside_a_run_nothing_is_sent() -> None:
    loose = Chatty()
    assert not emit_note(loose, "hello")  # in no scheduler
    idle = Chatty()
    jg.Scheduler(idle).subscribe(lambda event: None)
    assert not emit_note(idle, "hello")  # its scheduler does not run


async def test_a_failing_subscriber_does_not_fail_the_job(
    caplog: pytest.LogCaptureFixture,
) -> None:
    job = Chatty()
    scheduler = jg.Scheduler(job)

    def broken(event: jg.JobEvent) -> None:
        if event.kind is jg.EventKind.NOTE:
            raise RuntimeError("subscriber bug")

    scheduler.subscribe(broken)
    assert await scheduler.run()
    assert job.result() == "done"
    assert "subscriber bug" in caplog.text
