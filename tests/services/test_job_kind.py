"""ServiceCall jobs, with the pool job that serves them, keep the job contract that
check_job_kind() exercises: they complete, run again after reset(), let cancellation
through, stop at their timeout, are skipped after a failed requirement."""

from __future__ import annotations

from typing import Any

import anyio

import jobgraph as jg
from jobgraph import services as sv
from jobgraph.testing import check_job_kind


class Slow(sv.Service):
    @sv.expose(sv.AllowAny())
    @sv.arg_spec(seconds=float)
    async def nap(self, seconds: float) -> float:
        await anyio.sleep(seconds)
        return seconds


def served_call(seconds: float, **options: Any) -> jg.Scheduler:
    pool = sv.ServicePool([Slow()], stop_timeout=0.5)
    serve = pool.job()
    call = sv.ServiceCall(pool, "Slow", "nap", {"seconds": seconds}, requires=serve)
    return jg.Scheduler(serve, call, **options)


def test_a_served_call_keeps_the_job_contract() -> None:
    report = check_job_kind(served_call, 0.2)
    assert report.ok, str(report)
    assert report.notes == []  # every situation was exercised


def test_a_call_that_ignores_cancellation_is_reported() -> None:
    class Deaf(sv.Service):
        @sv.expose(sv.AllowAny())
        async def nap(self) -> None:
            with anyio.CancelScope(shield=True):
                await anyio.sleep(0.4)

    def deaf_call(**options: Any) -> jg.Scheduler:
        pool = sv.ServicePool([Deaf()], stop_timeout=0.1)
        serve = pool.job()
        return jg.Scheduler(serve, sv.ServiceCall(pool, "Deaf", "nap", requires=serve), **options)

    report = check_job_kind(deaf_call, shutdown_timeout=0.1, backends=("trio",))
    assert not report.ok
    assert "to stop after it was cancelled" in str(report)
