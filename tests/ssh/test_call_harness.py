"""The property harness draws SshJobs of Calls on a LocalNode (issue 27).

Graphs mixing the harness's own jobs with :class:`jobgraph_ssh.testing.RemoteCall`
jobs run under asyncio and trio; the oracle judges the Call jobs as any other: they
start after their requirements, finish with the function's value, fail with
RemoteError, are cancelled by timeouts and critical aborts, and leave nothing
behind. Few examples: each call starts an interpreter.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jobgraph as jg
from jobgraph.testing import (
    Built,
    JobSpec,
    Recorder,
    Return,
    SchedulerSpec,
    assert_valid,
    behaviours,
    check,
    graphs,
    run_graph,
    run_graph_async,
)
from jobgraph_ssh import CallResult, CaptureFormatter, LocalNode, RemoteError, SshJob
from jobgraph_ssh.testing import FUNCTIONS_MODULE, RemoteCall, functions_module, remote_calls

BACKENDS = ("asyncio", "trio")
# one draw in two is a Call job; the rest are the harness's own behaviours
MIXED = st.one_of(behaviours(), remote_calls())

# Found by this harness: under asyncio, a LocalNode Call cancelled while its interpreter
# was being spawned left asyncio's pipe-connecting task (and the process) behind (the
# spawn in _call_locally is shielded now); both backends must leave nothing.
ON_BOTH = ["asyncio", "trio"]


@pytest.fixture(autouse=True)
def _collect_garbage() -> Iterator[None]:
    yield
    gc.collect()  # a process object left behind is reported with its test, not a later one


def call_jobs(spec: SchedulerSpec) -> int:
    return sum(
        isinstance(node, JobSpec) and isinstance(node.behaviour, RemoteCall)
        for node, _ in spec.walk()
    )


def test_remote_calls_are_drawn_among_other_jobs() -> None:
    drawn: list[Any] = []

    @settings(max_examples=100, database=None, derandomize=True)
    @given(spec=graphs(jobs=MIXED, max_jobs=6))
    def draw(spec: SchedulerSpec) -> None:
        drawn.extend(node.behaviour for node, _ in spec.walk() if isinstance(node, JobSpec))

    draw()
    calls = [b for b in drawn if isinstance(b, RemoteCall)]
    assert calls and len(calls) < len(drawn)
    assert {call.raises for call in calls} == {False, True}


@pytest.mark.parametrize("backend", ON_BOTH)
@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    spec=st.one_of(
        graphs(jobs=MIXED, max_jobs=6),  # timeouts: most calls are cancelled
        graphs(jobs=MIXED, max_jobs=6, timeouts=False),  # most calls get their answer
    ).filter(call_jobs),
    cancel_after=st.sampled_from([None, None, 0.05, 0.2]),  # as interpreters start, or later
)
def test_graphs_with_call_jobs_follow_the_semantics(
    backend: str, spec: SchedulerSpec, cancel_after: float | None
) -> None:
    assert_valid(run_graph(spec, backend=backend, cancel_after=cancel_after))


def chain(*children: JobSpec, **options: Any) -> SchedulerSpec:
    return SchedulerSpec("top", children, **options)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_call_job_returns_its_value_and_a_raising_one_fails_with_remote_error(
    backend: str,
) -> None:
    spec = chain(
        JobSpec("j1", RemoteCall(result=7)),
        JobSpec("j2", RemoteCall(raises=True), requires=(0,), critical=False),
        JobSpec("j3", Return(result=1), requires=(1,)),
    )
    trace = run_graph(spec, backend=backend)
    assert_valid(trace)
    assert isinstance(trace.built.jobs["j1"], SshJob)
    [result] = trace.outcomes["j1"].result
    assert isinstance(result, CallResult)
    assert result.value == 7
    error = trace.outcomes["j2"].exception
    assert isinstance(error, RemoteError)
    assert error.remote_type == f"{FUNCTIONS_MODULE}.HarnessCallError"
    assert "job 'j2' failed on purpose" in error.remote_message
    assert trace.outcomes["j3"].outcome == "ok"  # policy "run": it runs after a failure
    assert trace.ok is True
    # what each saw of its requirement: j2 (an SshJob) j1's results, j3 nothing of j2
    saw = {note.job: note.values for note in trace.notes if note.what == "saw"}
    assert saw == {"j2": {"j1": [result]}, "j3": {}}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_critical_failing_call_aborts_a_sleeping_call(backend: str) -> None:
    spec = chain(
        JobSpec("j1", RemoteCall(after=30.0, result=1)),
        JobSpec("j2", RemoteCall(raises=True), critical=True),
        shutdown_timeout=5.0,
    )
    trace = run_graph(spec, backend=backend)
    assert_valid(trace)
    assert trace.outcomes["j1"].outcome == "cancelled"
    assert isinstance(trace.outcomes["j2"].exception, RemoteError)
    assert trace.ok is False
    assert trace.ended_at - trace.started_at < 15  # the sleeping interpreter was killed


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_call_job_past_its_timeout_is_stopped(backend: str) -> None:
    spec = chain(
        JobSpec("j1", RemoteCall(after=30.0), timeout=0.5, critical=False),
        JobSpec("j2", RemoteCall(result=2), requires=(0,)),
        shutdown_timeout=5.0,
    )
    trace = run_graph(spec, backend=backend)
    assert_valid(trace)
    assert isinstance(trace.outcomes["j1"].exception, jg.JobTimeoutError)
    assert trace.outcomes["j2"].result[0].value == 2
    assert trace.ended_at - trace.started_at < 15


@pytest.mark.parametrize("backend", ON_BOTH)
def test_call_jobs_cancelled_as_their_interpreter_starts_leave_nothing_behind(
    backend: str,
) -> None:
    async def runs() -> list[list[str]]:
        found = []
        for attempt in range(40):  # timeouts that strike while the interpreter spawns
            timeout = 0.001 * (1 + attempt % 12)
            spec = chain(JobSpec("j1", RemoteCall(after=0.3), timeout=timeout))
            found.append(check(await run_graph_async(spec)))
        return found

    assert anyio.run(runs, backend=backend) == [[]] * 40


class _Lying(RemoteCall):
    """Says it returns one more than its function does."""

    def value(self) -> Any:
        return self.result + 1


def test_the_oracle_reports_a_call_job_whose_value_is_wrong() -> None:
    trace = run_graph(chain(JobSpec("j1", _Lying(result=3))), backend="trio")
    assert any("job 'j1' returned 3, not 4" in text for text in check(trace))


class _Unnoted(RemoteCall):
    """Builds a plain SshJob: its attempts leave no note."""

    def make_job(self, name: str, recorder: Recorder, **options: Any) -> jg.AbstractJob:
        del recorder
        return SshJob(LocalNode(formatter=CaptureFormatter()), self.call(name), **options)


def test_the_oracle_reports_a_job_kind_that_does_not_note_its_attempts() -> None:
    trace = run_graph(chain(JobSpec("j1", _Unnoted(result=3))), backend="asyncio")
    assert any("records 1 attempt(s), ran 0" in text for text in check(trace))


def test_a_call_job_refuses_to_run_as_a_body() -> None:
    with pytest.raises(TypeError, match="a RemoteCall is an SshJob"):
        anyio.run(RemoteCall().act, "j1", 1, None)


def test_the_functions_module_is_loaded_once_under_its_top_level_name() -> None:
    module = functions_module()
    assert module is functions_module()
    assert module.__name__ == FUNCTIONS_MODULE
    assert module.give(3, 0.0) == 3


def test_the_harness_graph_knows_its_call_jobs() -> None:
    seen: list[str] = []

    def prepare(built: Built) -> None:
        seen.extend(name for name, job in built.jobs.items() if isinstance(job, SshJob))

    trace = run_graph(chain(JobSpec("j1", RemoteCall())), backend="trio", prepare=prepare)
    assert_valid(trace)
    assert seen == ["j1"]
