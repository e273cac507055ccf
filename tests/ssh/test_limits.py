"""One :class:`jobgraph_ssh.Limits`: checked once, process-wide (``set_limits``) or per
node (``SshOptions(limits=...)``), and what a node's limits bound on its connection."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Any

import pytest

import jobgraph as jg
import jobgraph_ssh
from jobgraph_ssh import Limits, Shell, SshJob, SshNode, SshOptions, set_limits
from jobgraph_ssh.lowlevel import limits_of
from jobgraph_ssh.services import ServiceLimits
from jobgraph_ssh.services import jobgraph_call as wire

from .conftest import Servers, make_node, run_jobs

pytestmark = pytest.mark.anyio

COUNTS = ("handshakes", "channels", "max_message", "max_connections")
SECONDS = ("request_timeout", "auth_timeout", "idle_timeout")


@pytest.fixture
def process_limits() -> Iterator[Limits]:
    """The process-wide limits as they were, put back after the test."""
    before = set_limits()
    yield before
    set_limits(**dataclasses.asdict(before))
    assert set_limits() == before


# -- one class, checked once ------------------------------------------------------------


def test_service_limits_is_the_same_class_under_its_old_name() -> None:
    assert ServiceLimits is Limits
    assert Limits.__module__ == "jobgraph_ssh"
    assert repr(ServiceLimits) == "<class 'jobgraph_ssh.Limits'>"
    # what scripts wrote with either name still builds the same object
    old = ServiceLimits(max_message=4096, request_timeout=1)
    assert old == Limits(max_message=4096, request_timeout=1.0)
    assert (old.max_message, old.request_timeout, old.channels) == (4096, 1.0, 8)
    # by keyword only: ServiceLimits(4096) must not silently become handshakes=4096
    with pytest.raises(TypeError):
        ServiceLimits(4096)  # type: ignore[call-arg]
    assert Limits().max_message == wire.MAX_MESSAGE  # the remote client's own bound
    with pytest.raises(dataclasses.FrozenInstanceError):
        old.channels = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value"),
    [(name, wrong) for name in COUNTS for wrong in (0, -1, True, "8", 2.0, None)]
    + [(name, wrong) for name in SECONDS for wrong in (0, -1.5, math.inf, math.nan, "5", None)],
)
def test_a_limit_that_means_nothing_is_refused_naming_field_and_value(
    field: str, value: object, process_limits: Limits
) -> None:
    kind = "a positive int" if field in COUNTS else "a number of seconds > 0"
    expected = f"{field} must be {kind}, not {value!r}"
    given: dict[str, Any] = {field: value}
    with pytest.raises(jg.InvalidOptionError) as made:
        Limits(**given)
    assert str(made.value) == f"Limits: {expected}"
    with pytest.raises(jg.InvalidOptionError) as replaced:  # replace() checks again
        dataclasses.replace(Limits(), **given)
    assert str(replaced.value) == f"Limits: {expected}"
    if value is not None:  # None: set_limits keeps the value in force
        with pytest.raises(jg.InvalidOptionError) as changed:
            set_limits(**given)
        assert str(changed.value) == f"set_limits: {expected}"
        assert set_limits() == process_limits  # nothing changed


def test_options_refuse_limits_that_are_not_a_limits_object() -> None:
    with pytest.raises(jg.InvalidOptionError) as made:
        SshOptions(limits={"channels": 2})  # type: ignore[arg-type]
    assert str(made.value) == (
        "SshOptions: limits must be a jobgraph_ssh.Limits or None, not {'channels': 2}"
    )
    with pytest.raises(jg.InvalidOptionError, match=r"^SshNode 'h': limits must be a"):
        SshNode("h", limits=2)


def test_set_limits_changes_the_fields_given_and_keeps_the_others(
    process_limits: Limits,
) -> None:
    now = set_limits(channels=3, max_message=4096, idle_timeout=60)
    assert now == dataclasses.replace(
        process_limits, channels=3, max_message=4096, idle_timeout=60.0
    )
    assert set_limits() is now  # frozen: the object in force, safe to hand out
    assert set_limits(handshakes=5) == dataclasses.replace(now, handshakes=5)


def test_a_node_takes_its_own_limits_else_the_process_ones(process_limits: Limits) -> None:
    set_limits(channels=3, max_connections=9)
    plain = SshNode("h")
    own = SshNode("h", limits=Limits(channels=2, max_message=4096))
    assert limits_of(plain) == set_limits()
    assert limits_of(own) == dataclasses.replace(
        Limits(channels=2, max_message=4096), handshakes=process_limits.handshakes
    )
    # max_channels, the older shortcut, wins over limits.channels
    assert limits_of(SshNode("h", max_channels=5)).channels == 5
    assert limits_of(SshNode("h", limits=Limits(channels=2), max_channels=5)).channels == 5
    # handshakes are counted for the whole process: a node's own value is not used
    set_limits(handshakes=4)
    assert limits_of(SshNode("h", limits=Limits(handshakes=1))).handshakes == 4
    assert own.limits == Limits(channels=2, max_message=4096)  # an option like the others


# -- what a node's limits bound ---------------------------------------------------------


async def test_a_node_limits_bound_the_channels_open_on_its_connection(
    servers: Servers, process_limits: Limits
) -> None:
    async def max_sessions(**options: Any) -> int:
        servers.reset_maxima()
        node = make_node(servers, 1, formatter=jobgraph_ssh.CaptureFormatter(), **options)
        assert await run_jobs(*(SshJob(node, Shell("sleep 0.2")) for _ in range(6)))
        return servers.stats()["sessions_max"]

    assert await max_sessions(limits=Limits(channels=2)) <= 2
    assert await max_sessions(limits=Limits(channels=6)) > 2  # the server sees more
    assert await max_sessions(limits=Limits(channels=6), max_channels=2) <= 2
    set_limits(channels=2)  # the process-wide value, for a node without its own
    assert await max_sessions() <= 2
    assert await max_sessions(limits=Limits(channels=6)) > 2
