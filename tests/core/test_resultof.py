"""ResultOf placeholders: results flowing from a job into another's arguments."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import jobgraph as jg
from jobgraph import lowlevel

pytestmark = pytest.mark.anyio


async def value(x: Any, delay: float = 0.0) -> Any:
    await anyio.sleep(delay)
    return x


async def echo(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return args, kwargs


async def fail() -> None:
    raise RuntimeError("boom")


async def test_result_flows_into_positional_and_keyword_arguments() -> None:
    a = jg.Job(value, 2, 0.02, label="a")
    b = jg.Job(value, "x", label="b")
    c = jg.Job(echo, jg.ResultOf(a), 10, kwargs={"k": jg.ResultOf(b, str.upper)}, label="c")
    assert set(c.requirements) == {a, b}  # using a placeholder adds the requirement
    assert await jg.Scheduler(a, b, c).run()
    assert c.result() == ((2, 10), {"k": "X"})
    # the description is unchanged: the placeholders are still there for a next run
    assert isinstance(c.args[0], jg.ResultOf)


async def test_placeholders_inside_containers_at_any_depth() -> None:
    a = jg.Job(value, 3, label="a")
    b = jg.Job(value, 4, label="b")
    c = jg.Job(
        echo,
        [jg.ResultOf(a), (1, {"deep": [jg.ResultOf(b, lambda v: v * 10)]})],
        {jg.ResultOf(a)},
        kwargs={"d": {"x": jg.ResultOf(b)}},
    )
    assert set(c.requirements) == {a, b}
    assert await jg.Scheduler(c, a, b).run()
    assert c.result() == (([3, (1, {"deep": [40]})], {3}), {"d": {"x": 4}})


async def test_resolved_after_requirements_even_with_explicit_requires() -> None:
    slow = jg.Job(value, "late", 0.05, label="slow")
    other = jg.Job(value, None, label="other")
    c = jg.Job(echo, jg.ResultOf(slow), requires=other)
    assert set(c.requirements) == {slow, other}
    assert await jg.Scheduler(other, slow, c).run()
    assert c.result() == (("late",), {})


async def test_failed_requirement_fails_the_dependent_naming_both() -> None:
    bad = jg.Job(fail, label="producer", critical=False)
    user = jg.Job(echo, jg.ResultOf(bad), label="consumer", critical=False)
    assert await jg.Scheduler(bad, user).run()
    assert isinstance(user.exception, jg.ResultUnavailableError)
    message = str(user.exception)
    assert "'consumer'" in message and "'producer'" in message and "failed" in message
    assert isinstance(user.exception.__cause__, RuntimeError)
    assert isinstance(user.exception, jg.JobGraphError)


async def test_skip_policy_skips_instead_of_failing() -> None:
    bad = jg.Job(fail, label="producer", critical=False)
    user = jg.Job(echo, jg.ResultOf(bad), on_failed_requirement="skip", critical=False)
    after = jg.Job(echo, jg.ResultOf(user), label="after", critical=False)
    assert await jg.Scheduler(bad, user, after).run()
    assert user.state is jg.JobState.SKIPPED
    assert isinstance(after.exception, jg.ResultUnavailableError)
    assert "skipped" in str(after.exception)


async def test_critical_dependent_aborts_the_run() -> None:
    bad = jg.Job(fail, label="producer", critical=False)
    user = jg.Job(echo, jg.ResultOf(bad), label="consumer")
    scheduler = jg.Scheduler(bad, user)
    assert not await scheduler.run()
    assert "consumer" in scheduler.why()


async def test_run_again_after_reset_uses_the_new_results() -> None:
    counter = iter(range(10))

    async def next_value() -> int:
        return next(counter)

    a = jg.Job(next_value)
    b = jg.Job(echo, jg.ResultOf(a))
    scheduler = jg.Scheduler(a, b)
    assert await scheduler.run()
    first = b.result()
    scheduler.reset()
    assert await scheduler.run()
    assert (first, b.result()) == (((0,), {}), ((1,), {}))


async def test_retried_job_resolves_each_attempt() -> None:
    attempts: list[Any] = []

    async def flaky(x: int) -> int:
        attempts.append(x)
        if len(attempts) < 2:
            raise OSError("again")
        return x

    a = jg.Job(value, 7)
    b = jg.Job(flaky, jg.ResultOf(a), retry=2)
    assert await jg.Scheduler(a, b).run()
    assert b.result() == 7 and attempts == [7, 7]


async def test_nested_scheduler_passes_results_between_its_jobs() -> None:
    a = jg.Job(value, 5)
    b = jg.Job(echo, jg.ResultOf(a))
    inner = jg.Scheduler(a, b)
    assert await jg.Scheduler(inner).run()
    assert b.result() == ((5,), {})


async def test_subclass_with_custom_run_resolves_with_the_public_helper() -> None:
    class Sum(jg.AbstractJob):
        def __init__(self, *parts: Any) -> None:
            self.parts = parts
            super().__init__(requires=[p.job for p in lowlevel.find_placeholders(parts)])

        async def run(self) -> Any:
            return sum(jg.resolve_placeholders(self.parts, self))

    a = jg.Job(value, 1)
    b = jg.Job(value, 2)
    total = Sum(jg.ResultOf(a), jg.ResultOf(b), 3)
    assert set(total.requirements) == {a, b}
    assert await jg.Scheduler(a, b, total).run()
    assert total.result() == 6


def test_resolver_outside_a_run_names_the_job_without_result() -> None:
    a = jg.Job(value, 1, label="never-ran")
    with pytest.raises(jg.ResultUnavailableError, match=r"'never-ran'.*idle"):
        jg.resolve_placeholders([jg.ResultOf(a)])
    # values without placeholders come back as they are, not copied
    plain = [1, {"a": (2,)}]
    assert jg.resolve_placeholders(plain) is plain


def test_bad_placeholders_are_refused() -> None:
    with pytest.raises(jg.JobDefinitionError, match="takes a job"):
        jg.ResultOf("job")  # type: ignore[arg-type]
    with pytest.raises(jg.JobDefinitionError, match="callable"):
        jg.ResultOf(jg.Job(value, 1), transform=3)  # type: ignore[arg-type]


async def test_placeholder_on_a_job_of_another_scheduler_is_refused_before_running() -> None:
    a = jg.Job(value, 1, label="elsewhere")
    jg.Scheduler(a)
    b = jg.Job(echo, jg.ResultOf(a), label="here")
    with pytest.raises(jg.UnknownRequirementError, match="'here' requires 'elsewhere'"):
        await jg.Scheduler(b).run()
