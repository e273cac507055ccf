"""Listing numbers are kept by the views, not by the jobs, and die with the jobs."""

from __future__ import annotations

import gc

import jobgraph as jg
from jobgraph.views import _listing


async def noop() -> None:
    return None


def test_numbers_of_the_last_listing_stay_until_the_next() -> None:
    a = jg.Job(noop, label="a")
    b = jg.Job(noop, label="b", requires=a)
    s = jg.Scheduler(b, a)
    assert (a.repr_id(), b.repr_id()) == ("??", "??")
    s.list_text()
    assert (a.repr_id(), b.repr_id()) == ("1", "2")
    s.list_safe_text()  # insertion order
    assert (a.repr_id(), b.repr_id()) == ("2", "1")
    assert not hasattr(a, "_sched_id")


def test_a_new_job_never_shows_the_number_of_a_dead_one() -> None:
    for _ in range(50):  # ids of collected jobs get reused
        s = jg.Scheduler(*(jg.Job(noop) for _ in range(20)))
        s.list_text()
        del s
        gc.collect()
        fresh = [jg.Job(noop) for _ in range(20)]
        assert {job.repr_id() for job in fresh} == {"??"}


def test_numbers_of_dead_jobs_do_not_pile_up() -> None:
    gc.collect()
    start = len(_listing._NUMBERS)
    created, batch = 0, 3000
    # enough listings of short-lived jobs to cross the purge threshold at least once
    while created <= _listing._PURGE_AT[0] + batch:
        s = jg.Scheduler(*(jg.Job(noop) for _ in range(batch)))
        s.list_safe_text()
        del s
        gc.collect()
        created += batch
        # the table never holds more than the threshold plus one listing
        assert len(_listing._NUMBERS) <= _listing._PURGE_AT[0] + batch
    assert len(_listing._NUMBERS) < start + created  # dead jobs' numbers were dropped
