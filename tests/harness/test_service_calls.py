"""Jobs that call services, in the harness: the drawn calls, their predicted outcomes,
and the oracle's rules about where and how often the services worked."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobgraph.services import AccessDeniedError, ServiceArgumentError
from jobgraph.testing import (
    SHARED_DELAY,
    BehaviourError,
    CallService,
    JobSpec,
    Recorder,
    RetrySpec,
    SchedulerSpec,
    Trace,
    assert_valid,
    backends_for_profile,
    graphs,
    make_body,
    run_graph,
    service_calls,
)

BACKENDS = backends_for_profile()


def parallel(*behaviours: CallService, **options: object) -> SchedulerSpec:
    jobs = tuple(JobSpec(f"j{i}", b) for i, b in enumerate(behaviours, start=1))
    return SchedulerSpec("top", jobs, **options)  # type: ignore[arg-type]


def notes(trace: Trace, what: str) -> list[str]:
    return [note.job for note in trace.notes if note.what == what]


@pytest.mark.parametrize("backend", BACKENDS)
@given(spec=graphs(jobs=service_calls()))
def test_graphs_of_service_calls_follow_the_semantics(backend: str, spec: SchedulerSpec) -> None:
    assert_valid(run_graph(spec, backend=backend))


@pytest.mark.parametrize("backend", BACKENDS)
@given(
    spec=graphs(jobs=service_calls(("serial", "shared")), max_jobs=12),
    cancel_after=st.sampled_from([None, 0.001, 0.003, 0.007]),
)
def test_contended_services_follow_the_semantics(
    backend: str, spec: SchedulerSpec, cancel_after: float | None
) -> None:
    assert_valid(run_graph(spec, backend=backend, cancel_after=cancel_after))


def test_echo_and_fail_take_their_time_and_give_their_answer() -> None:
    trace = run_graph(
        parallel(CallService("echo", 0.01, 7), CallService("fail", 0.02)),
        backend="trio-mockclock",
    )
    assert_valid(trace)
    assert trace.outcomes["j1"].result == 7
    assert isinstance(trace.outcomes["j2"].exception, BehaviourError)
    assert trace.ended_at - trace.started_at == pytest.approx(0.02)
    assert notes(trace, "served") == ["j1"]
    assert notes(trace, "call-raised") == ["j2"]


def test_refused_and_badly_typed_calls_never_reach_the_service() -> None:
    trace = run_graph(
        parallel(CallService("secret", 0.01), CallService("bad_args", 0.01)),
        backend="trio-mockclock",
    )
    assert_valid(trace)
    denied = trace.outcomes["j1"].exception
    assert isinstance(denied, AccessDeniedError)
    assert denied.caller.name == "j1"
    assert "harness.secret" in str(denied)
    bad = trace.outcomes["j2"].exception
    assert isinstance(bad, ServiceArgumentError)
    assert "'after' must be float" in str(bad)
    assert notes(trace, "call") == []
    stats = trace.built.pool.stats() if trace.built.pool else {}
    assert stats[("harness", "secret")].refused == 1
    assert stats[("harness", "echo")].refused == 1


def test_a_refused_call_is_retried_only_by_a_policy_that_covers_it() -> None:
    retried = JobSpec("any", CallService("secret"), retry=RetrySpec(attempts=3, on="any"))
    kept = JobSpec("beh", CallService("secret"), retry=RetrySpec(attempts=3, on="behaviour"))
    trace = run_graph(SchedulerSpec("top", (retried, kept)), backend="trio-mockclock")
    assert_valid(trace)
    assert trace.outcomes["any"].attempts == 3
    assert trace.outcomes["beh"].attempts == 1


def test_serial_calls_take_turns() -> None:
    trace = run_graph(
        parallel(*(CallService("serial", 0.01, i) for i in range(3))), backend="trio-mockclock"
    )
    assert_valid(trace)
    assert trace.ended_at - trace.started_at == pytest.approx(0.03)
    assert [trace.outcomes[f"j{i}"].result for i in (1, 2, 3)] == [0, 1, 2]


def test_a_shared_key_is_computed_once_for_every_job_that_asks() -> None:
    spec = parallel(*(CallService("shared", key=1) for _ in range(4)), CallService("shared", key=2))
    trace = run_graph(spec, backend="trio-mockclock")
    assert_valid(trace)
    assert [trace.outcomes[f"j{i}"].result for i in range(1, 6)] == [1, 1, 1, 1, 2]
    assert len(notes(trace, "served")) == 2  # once for key 1, once for key 2
    assert trace.ended_at - trace.started_at == pytest.approx(SHARED_DELAY * 3)


def test_a_shared_computation_cut_short_by_a_timeout_is_redone_for_the_others() -> None:
    leader = JobSpec("leader", CallService("shared", key=2), timeout=SHARED_DELAY)
    waiter = JobSpec("waiter", CallService("shared", key=2))
    trace = run_graph(SchedulerSpec("top", (leader, waiter)), backend="trio-mockclock")
    assert_valid(trace)
    assert trace.outcomes["leader"].outcome == "failed"
    assert trace.outcomes["waiter"].result == 2
    assert notes(trace, "call-cancelled") == ["leader"]
    assert notes(trace, "served") == ["waiter"]


def test_a_service_call_body_without_a_pool_says_so() -> None:
    import anyio

    body = make_body("lonely", CallService("echo"), Recorder())
    with pytest.raises(TypeError, match="job 'lonely' calls a service, but its recorder has no"):
        anyio.run(body)


def test_service_calls_rejects_unknown_methods() -> None:
    with pytest.raises(ValueError, match="methods must be some of"):
        service_calls(("echo", "teleport"))
