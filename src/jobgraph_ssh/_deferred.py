"""Values known only during a run: Variables, Capture and Deferred (jinja2 templates).

A command's output can be captured into a :class:`Variables` namespace
(``Run(..., capture=Capture("name", variables))``), and a later command can use it
through a :class:`Deferred` template, rendered just before that command runs::

    env = Variables()
    first = SshJob(master, Run("kubectl", "get", "pod", "-o", "name", capture=Capture("pod", env)))
    then = SshJob(master, Run("kubectl", "logs", Deferred("{{pod}}", env)), requires=first)
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

import jinja2
import jinja2.sandbox

from jobgraph import InvalidOptionError, JobGraphError

__all__ = ["Capture", "Deferred", "TemplateError", "Variables"]


class TemplateError(JobGraphError, ValueError):
    """A template is wrong (syntax) or cannot be rendered (an undefined variable)."""


class Variables(dict[str, Any]):
    """A namespace filled during a run: ``v.name`` and ``v["name"]`` are the same."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


CAPTURE_LIMIT = 1 << 20  # characters of stdout a Capture keeps, by default (1 MiB)


@dataclass(frozen=True)
class Capture:
    """Where a command's stdout goes: ``variables[varname]``, trailing newlines removed
    (as the shell's ``$(...)`` does). The command keeps its stdout for that, up to
    ``limit`` characters, whatever the job's ``keep_output``.

    The variable is set when the command ends, whether its status was allowed or not
    (not when it is stopped or times out); a later command's :class:`Deferred` reads
    it when rendered. Output longer than ``limit`` is not a value: the variable is
    left unset (a Deferred that reads it fails, naming it) and the command's
    :class:`~jobgraph_ssh.CommandResult` says ``stdout_truncated``.

    Attributes:
        varname: the variable to set.
        variables: the namespace that holds it (shared with the Deferred templates
            that use it).
        limit: the most characters of stdout kept (default 1 MiB); None for no limit.

    Raises:
        jobgraph.InvalidOptionError: a ``limit`` that is neither None nor a positive
            int.
    """

    varname: str
    variables: Variables
    limit: int | None = CAPTURE_LIMIT

    def __post_init__(self) -> None:
        if self.limit is not None and (
            isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit <= 0
        ):
            raise InvalidOptionError(
                f"Capture {self.varname!r}: limit must be a positive int or None, "
                f"not {self.limit!r}"
            )


def _quote(value: object) -> str:
    """The ``quote`` filter: ``str(value)`` quoted for a POSIX shell (one word, as data)."""
    return shlex.quote(str(value))


# sandboxed: a template reaches its variables' data, not Python's internals
# (``{{ x.__class__ }}`` is refused); autoescape is for HTML, this is shell text
_environment = jinja2.sandbox.SandboxedEnvironment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,
)
_environment.filters["quote"] = _quote


class Deferred:
    """A jinja2 template rendered with ``variables`` just before the command using it runs.

    It stands for a string in ``Run`` arguments, ``Shell`` lines and script arguments.
    Shown as its template text until then. Undefined variables are errors, not empty
    strings. Nothing is escaped by itself: in a ``Shell`` line, write
    ``{{ name | quote }}`` (the ``quote`` filter, :func:`shlex.quote`) so that a value
    captured elsewhere stays one word of data, whatever it holds (``Run`` quotes each
    argument already). Templates run in jinja2's sandbox: they read their variables,
    not Python's internals.

    Args:
        template: the jinja2 template text (``"{{pod}}"``), compiled now.
        variables: the namespace it is rendered with, as it is at that time.

    Raises:
        TemplateError: the template's syntax is wrong.
    """

    def __init__(self, template: str, variables: Variables) -> None:
        self.template = template
        self.variables = variables
        try:
            self._compiled = _environment.from_string(template)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template {template!r}: {exc}") from exc

    def render(self) -> str:
        """The template rendered with the variables as they are now.

        Returns:
            The rendered text.

        Raises:
            TemplateError: a variable it uses is not defined (yet).
        """
        try:
            return self._compiled.render(self.variables)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"cannot render {self.template!r}: {exc}") from exc

    def dup_from_string(self, template: str) -> Deferred:
        """A Deferred on the same variables, with another template.

        Args:
            template: the new template text.

        Returns:
            The new Deferred (this one is unchanged).

        Raises:
            TemplateError: the template's syntax is wrong.
        """
        return Deferred(template, self.variables)

    def __str__(self) -> str:
        return self.template

    def __repr__(self) -> str:
        return f"Deferred({self.template!r})"


def resolve(value: object) -> str:
    """A Deferred rendered, anything else as ``str()``."""
    return value.render() if isinstance(value, Deferred) else str(value)
