"""Every async test runs on asyncio and on trio; tests marked ``timing`` also on trio's
MockClock, where sleeping is instant and time exact."""

from __future__ import annotations

from typing import Any

import pytest
from trio.testing import MockClock

from jobgraph.testing import load_profile

load_profile()  # hypothesis profile from JOBGRAPH_HYPOTHESIS_PROFILE: dev (default), ci, soak

BACKENDS = ["asyncio", "trio"]
TIMING_BACKENDS = [*BACKENDS, "trio-mockclock"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "timing: also run the test on trio with a MockClock")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marks = metafunc.definition.iter_markers("parametrize")
    # a test that parametrizes anyio_backend itself picks its own backends
    pinned = any("anyio_backend" in str(mark.args[0]) for mark in marks)
    if "anyio_backend" in metafunc.fixturenames and not pinned:
        timing = metafunc.definition.get_closest_marker("timing") is not None
        metafunc.parametrize(
            "anyio_backend", TIMING_BACKENDS if timing else BACKENDS, indirect=True
        )


@pytest.fixture
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    name = request.param
    if name == "trio-mockclock":
        return ("trio", {"clock": MockClock(autojump_threshold=0)})
    return name


@pytest.fixture
def mock_clock(anyio_backend: Any) -> bool:
    """True when the test runs under trio's MockClock (time is then exact)."""
    return isinstance(anyio_backend, tuple)
