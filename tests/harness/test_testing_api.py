"""jobgraph.testing is public: its names are exactly __all__, each documented, and the
profiles load by name or from the environment."""

from __future__ import annotations

import inspect

import pytest
from hypothesis import settings

import jobgraph.testing as jt


def test_public_names_are_exactly_all() -> None:
    public = {name for name in vars(jt) if not name.startswith("_")}
    assert public == set(jt.__all__)
    assert len(jt.__all__) == len(set(jt.__all__))


@pytest.mark.parametrize("name", jt.__all__)
def test_public_name_is_documented(name: str) -> None:
    obj = getattr(jt, name)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        assert inspect.getdoc(obj), f"jobgraph.testing.{name} has no docstring"


def test_profiles_load_by_name_and_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    current = settings.get_current_profile_name()
    try:
        assert jt.load_profile("ci") == "ci"
        assert settings().max_examples == jt.PROFILES["ci"]
        monkeypatch.setenv(jt.PROFILE_ENV, "soak")
        assert jt.load_profile() == "soak"
        assert settings().max_examples >= 10_000
        assert jt.backends_for_profile() == ("asyncio", "trio", "trio-mockclock")
        monkeypatch.setenv(jt.PROFILE_ENV, "nonsense")
        with pytest.raises(ValueError, match="JOBGRAPH_HYPOTHESIS_PROFILE"):
            jt.load_profile()
    finally:
        settings.load_profile(current)


def test_run_graph_refuses_an_unknown_backend() -> None:
    with pytest.raises(ValueError, match="backend must be one of"):
        jt.run_graph(jt.SchedulerSpec("top"), backend="curio")
