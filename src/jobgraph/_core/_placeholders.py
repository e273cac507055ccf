"""Results flowing between jobs: :class:`ResultOf` placeholders in a job's arguments.

``Job(parse, jg.ResultOf(fetch))`` calls ``parse(<what fetch returned>)``: the placeholder
adds ``fetch`` to the job's requirements when the job is built, and is replaced by
``fetch.result()`` (passed through ``transform`` if one is given) just before the job
starts, once its requirements are done. Placeholders are found in the positional and
keyword arguments and inside lists, tuples, sets and dicts among them, at any depth.

Other job kinds (SSH commands...) find and resolve placeholders in their own arguments
with :func:`find_placeholders` and :func:`resolve_placeholders`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ._exceptions import JobDefinitionError, JobGraphError

if TYPE_CHECKING:
    from ._job import AbstractJob

__all__ = ["ResultOf", "ResultUnavailableError", "find_placeholders", "resolve_placeholders"]

_CONTAINERS = (list, tuple, set, frozenset, dict)


class ResultUnavailableError(JobGraphError):
    """A job's argument is the result of a job that has none: names both jobs.

    The required job failed, was cancelled or skipped (or has not run).

    Args:
        job: the job taking the argument, or None if unknown (attribute ``job``).
        required: the job whose result is missing (attribute ``required``).
    """

    def __init__(self, job: AbstractJob | None, required: AbstractJob) -> None:
        self.job = job
        self.required = required
        who = f"job {job.label!r}" if job is not None else "an argument"
        super().__init__(
            f"{who} takes the result of job {required.label!r}, which has none: "
            f"{required.label!r} is {required._record.outcome}"
            + (f" ({type(required.exception).__name__})" if required.exception else "")
        )


class ResultOf:
    """A placeholder for the result of ``job``, optionally passed through ``transform``.

    Put it anywhere in a job's arguments (also inside lists, tuples, sets and dicts):
    building the job adds ``job`` to its requirements, and the placeholder becomes
    ``transform(job.result())`` just before the job starts. If ``job`` failed, was
    cancelled or skipped, the dependent job fails with a
    :class:`ResultUnavailableError` naming both (unless its
    ``on_failed_requirement="skip"`` policy skips it first).

    Args:
        job: the job whose result is wanted.
        transform: a callable applied to the result, or None.

    Raises:
        JobDefinitionError: ``job`` is not a job, or ``transform`` is not callable.
    """

    __slots__ = ("job", "transform")

    def __init__(self, job: AbstractJob, transform: Callable[[Any], Any] | None = None) -> None:
        from ._job import AbstractJob  # _job imports this module

        if not isinstance(job, AbstractJob):
            raise JobDefinitionError(f"ResultOf() takes a job, not {job!r}")
        if transform is not None and not callable(transform):
            raise JobDefinitionError(
                f"ResultOf() transform must be callable or None, not {transform!r}"
            )
        self.job = job
        self.transform = transform

    def resolve(self, dependent: AbstractJob | None = None) -> Any:
        """The value the placeholder stands for, now.

        Args:
            dependent: the job whose argument this is, named in the error (optional).

        Returns:
            The job's result, passed through ``transform`` if given.

        Raises:
            ResultUnavailableError: the job has no result (failed, cancelled, skipped,
                or not run yet).
        """
        record = self.job._record
        if not record.succeeded:
            raise ResultUnavailableError(dependent, self.job) from record.exception
        value = record.result
        return value if self.transform is None else self.transform(value)

    def __repr__(self) -> str:
        extra = f", transform={self.transform!r}" if self.transform is not None else ""
        return f"ResultOf({self.job.label!r}{extra})"


def find_placeholders(value: Any) -> Iterator[ResultOf]:
    """Find every :class:`ResultOf` in a value.

    Args:
        value: anything; lists, tuples, sets and dicts (keys included) are searched at
            any depth.

    Yields:
        The placeholders, depth first, in the containers' order.
    """
    if isinstance(value, ResultOf):
        yield value
    elif isinstance(value, _CONTAINERS):
        items = value.items() if isinstance(value, dict) else value
        for item in items:
            yield from find_placeholders(item)


def resolve_placeholders(
    value: Any,
    job: AbstractJob | None = None,
    resolve: Callable[[ResultOf], Any] | None = None,
) -> Any:
    """``value`` with every :class:`ResultOf` in it replaced by what it stands for.

    Containers holding placeholders are rebuilt (same type); anything else is returned
    as it is, not copied.

    Args:
        value: anything, possibly holding placeholders.
        job: the job whose arguments these are, named in errors.
        resolve: if given, computes the replacement of each placeholder instead (an
            executor may put a reference to a result kept elsewhere).

    Returns:
        The value with its placeholders replaced.

    Raises:
        ResultUnavailableError: a placeholder's job has no result.
    """
    if isinstance(value, ResultOf):
        return value.resolve(job) if resolve is None else resolve(value)
    if isinstance(value, _CONTAINERS):
        if not any(True for _ in find_placeholders(value)):
            return value
        if isinstance(value, dict):
            return type(value)(
                (resolve_placeholders(k, job, resolve), resolve_placeholders(v, job, resolve))
                for k, v in value.items()
            )
        items = [resolve_placeholders(item, job, resolve) for item in value]
        if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
            return type(value)(*items)
        return type(value)(items)
    return value
