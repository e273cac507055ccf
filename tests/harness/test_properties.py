"""The engine against the oracle, on drawn graphs: every run must follow the semantics,
and graphs whose outcome cannot depend on timing must end the same on both backends.

The number of graphs comes from the hypothesis profile (JOBGRAPH_HYPOTHESIS_PROFILE:
dev by default, ci, soak); so do the backends (dev: asyncio and trio's MockClock; ci
and soak add trio on a real clock).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobgraph.testing import (
    SchedulerSpec,
    assert_valid,
    backends_for_profile,
    graphs,
    is_deterministic,
    run_graph,
    summary,
)

BACKENDS = backends_for_profile()


@pytest.mark.parametrize("backend", BACKENDS)
@given(spec=graphs())
def test_drawn_graphs_follow_the_semantics(backend: str, spec: SchedulerSpec) -> None:
    assert_valid(run_graph(spec, backend=backend))


@pytest.mark.parametrize("backend", BACKENDS)
@given(spec=graphs(timeouts=False))
def test_drawn_graphs_without_timeouts_follow_the_semantics(
    backend: str, spec: SchedulerSpec
) -> None:
    # without timeouts every run reaches the predictions of the oracle on any clock
    assert_valid(run_graph(spec, backend=backend))


@pytest.mark.parametrize("backend", BACKENDS)
@given(spec=graphs(), cancel_after=st.sampled_from([0.0, 0.001, 0.004, 0.011, 0.023]))
def test_drawn_graphs_cancelled_from_outside_follow_the_semantics(
    backend: str, spec: SchedulerSpec, cancel_after: float
) -> None:
    assert_valid(run_graph(spec, backend=backend, cancel_after=cancel_after))


@given(spec=graphs(max_jobs=40, max_depth=3))
@settings(max_examples=max(10, settings().max_examples // 3))
def test_large_drawn_graphs_follow_the_semantics_under_mockclock(spec: SchedulerSpec) -> None:
    assert_valid(run_graph(spec, backend="trio-mockclock"))


@given(spec=graphs(deterministic=True))
def test_deterministic_graphs_end_the_same_on_asyncio_and_trio(spec: SchedulerSpec) -> None:
    assert is_deterministic(spec)
    on_asyncio = run_graph(spec, backend="asyncio")
    on_trio = run_graph(spec, backend="trio-mockclock")
    assert_valid(on_asyncio)
    assert_valid(on_trio)
    assert summary(on_asyncio) == summary(on_trio)
