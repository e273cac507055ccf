"""The public face of jobgraph.services: its names and its exception tree."""

from __future__ import annotations

import pytest

import jobgraph as jg
from jobgraph import services as sv

pytestmark = pytest.mark.anyio


def test_all_is_sorted_and_every_name_exists() -> None:
    assert sv.__all__ == sorted(sv.__all__)
    assert len(set(sv.__all__)) == len(sv.__all__)
    for name in sv.__all__:
        assert hasattr(sv, name), name


def test_public_names_are_exactly_those_in_all() -> None:
    public = {name for name in vars(sv) if not name.startswith("_")}
    assert public == set(sv.__all__)


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (sv.ServiceDefinitionError, TypeError),
        (sv.UnknownServiceError, LookupError),
        (sv.AccessDeniedError, PermissionError),
        (sv.ServiceArgumentError, TypeError),
        (sv.PoolClosedError, RuntimeError),
    ],
)
def test_every_error_is_a_service_error_and_a_builtin_error(
    error: type[Exception], builtin: type[Exception]
) -> None:
    assert issubclass(error, sv.ServiceError)
    assert issubclass(error, jg.JobGraphError)
    assert issubclass(error, builtin)


def test_service_error_is_rooted_at_jobgraph_error() -> None:
    assert issubclass(sv.ServiceError, jg.JobGraphError)
    errors = [getattr(sv, name) for name in sv.__all__ if name.endswith("Error")]
    assert len(errors) == 6
    for error in errors:
        assert issubclass(error, jg.JobGraphError), error
