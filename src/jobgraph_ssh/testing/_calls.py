"""RemoteCall: a drawn job that is an SshJob of one Call on a LocalNode.

The job is built by :meth:`RemoteCall.make_job` (the harness's seam for job kinds):
an :class:`~jobgraph_ssh.SshJob` whose ``run()`` is wrapped in
:meth:`jobgraph.testing.Recorder.observe`, so that the oracle sees its attempts as it
sees any body's. The called functions live in ``_functions.py``, a standard-library
module that the node's interpreter imports on demand.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from hypothesis import strategies as st

from jobgraph import AbstractJob, TaskStatusLike
from jobgraph.testing import Behaviour, Plan, Recorder
from jobgraph_ssh import Call, CallResult, CaptureFormatter, LocalNode, Node, RemoteError, SshJob

__all__ = ["FUNCTIONS_MODULE", "RemoteCall", "functions_module", "remote_calls"]

FUNCTIONS_MODULE = "jobgraph_ssh_testing_functions"
"""The top-level name under which the called functions' module is loaded (and which
the node imports)."""

# Values chosen so that some calls outlast the harness's timeouts and shutdowns.
_AFTER = (0.0, 0.0, 0.01, 0.05, 0.3)


def functions_module() -> ModuleType:
    """The module of the functions that :class:`RemoteCall` jobs call, loaded once.

    It is ``jobgraph_ssh/testing/_functions.py``, loaded under the top-level name
    :data:`FUNCTIONS_MODULE`: a :class:`~jobgraph_ssh.Call` sends the function's module
    by that name, and the node imports it without importing ``jobgraph_ssh`` (which
    the node does not have).

    Returns:
        The module (``give``, ``fail``, ``HarnessCallError``).
    """
    module = sys.modules.get(FUNCTIONS_MODULE)
    if module is not None:
        return module
    path = Path(__file__).with_name("_functions.py")
    spec = importlib.util.spec_from_file_location(FUNCTIONS_MODULE, path)
    assert spec is not None  # a file of this package
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[FUNCTIONS_MODULE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[FUNCTIONS_MODULE]
        raise
    return module


class _ObservedSshJob(SshJob):
    """An SshJob whose attempts take notes in the harness's recorder (what they saw of
    their requirements included)."""

    def __init__(
        self, recorder: Recorder, name: str, node: Node, call: Call, **options: Any
    ) -> None:
        self._recorder = recorder
        self._name = name
        super().__init__(node, call, **options)

    async def run(self) -> list[Any]:
        """Run the call, noted as one attempt of the drawn job.

        Returns:
            As for :meth:`jobgraph_ssh.SshJob.run`.

        Raises:
            RemoteError: the function raised on the node.

        Cancellation:
            As for :meth:`jobgraph_ssh.SshJob.run` (the node's interpreter is killed);
            noted ``cancelled``.
        """

        async def act(attempt: int) -> list[Any]:
            self._recorder.saw(self._name, attempt)  # its requirements' results, as it starts
            return await SshJob.run(self)

        return await self._recorder.observe(self._name, act)


@dataclass(frozen=True, slots=True)
class RemoteCall(Behaviour):
    """A job of the harness that is an :class:`~jobgraph_ssh.SshJob` of one
    :class:`~jobgraph_ssh.Call` on a :class:`~jobgraph_ssh.LocalNode`.

    The function runs in a new ``python3`` process (one per call on a LocalNode),
    which imports the function's module on demand. It sleeps ``after`` seconds
    there, then returns ``result`` (the job's result is a list of one
    :class:`~jobgraph_ssh.CallResult` whose ``value`` is ``result``), or, with
    ``raises``, raises (the job fails with :class:`~jobgraph_ssh.RemoteError`). A job
    cancelled meanwhile (its timeout, a critical abort, the run's timeout) kills the
    interpreter. Real clocks only: under trio's MockClock the harness would skip time
    while the interpreter starts.

    Attributes:
        raises: the function raises instead of returning.
        after: seconds the function sleeps on the node first.
        result: what it returns.
    """

    raises: bool = False
    after: float = 0.0
    result: int = 0

    def can_fail(self) -> bool:
        return self.raises

    def value(self) -> Any:
        return None if self.raises else self.result

    async def act(self, job: str, attempt: int, status: TaskStatusLike | None) -> Any:
        """Refuse: a RemoteCall has no body; its job is built by :meth:`make_job`.

        Args:
            job: the job's label.
            attempt: the attempt, from 1.
            status: unused.

        Returns:
            Never.

        Raises:
            TypeError: always.

        Cancellation:
            Not reached.
        """
        raise TypeError(
            f"job {job!r}: a RemoteCall is an SshJob, not a body; build it with make_job()"
        )

    def call(self, name: str) -> Call:
        """The Call that job ``name`` makes.

        Args:
            name: the job's drawn name (the raised error names it).

        Returns:
            A :class:`~jobgraph_ssh.Call` of a function of :func:`functions_module`.
        """
        functions = functions_module()
        if self.raises:
            return Call(functions.fail, name, float(self.after))
        return Call(functions.give, self.result, float(self.after))

    def make_job(self, name: str, recorder: Recorder, **options: Any) -> AbstractJob:
        """An SshJob of :meth:`call` on a new LocalNode, whose attempts take notes.

        Args:
            name: the job's drawn name.
            recorder: where its attempts take notes.
            **options: the engine's job options.

        Returns:
            The SshJob (output captured, not printed).
        """
        node = LocalNode(formatter=CaptureFormatter())
        return _ObservedSshJob(recorder, name, node, self.call(name), **options)

    def value_of(self, result: Any) -> Any:
        """The value of the job's one :class:`~jobgraph_ssh.CallResult`.

        Args:
            result: the SshJob's result.

        Returns:
            The call's ``value``; ``result`` as it is when it is not one call's
            result (the oracle then reports it).
        """
        if isinstance(result, list) and len(result) == 1 and isinstance(result[0], CallResult):
            return result[0].value
        return result

    def plan(self, attempt: int) -> Plan | None:
        """Returns ``result``, or fails with :class:`~jobgraph_ssh.RemoteError`, after
        a time not known in advance (an interpreter starts).

        Args:
            attempt: the attempt's number (every attempt does the same).

        Returns:
            The plan.
        """
        del attempt
        return Plan("raise" if self.raises else "ok", None, RemoteError)


def remote_calls() -> st.SearchStrategy[RemoteCall]:
    """A strategy for :class:`RemoteCall` jobs: some raise, some sleep long enough
    (up to 0.3 s on the node) to meet the harness's timeouts and aborts.

    Returns:
        A hypothesis strategy of :class:`RemoteCall`.
    """
    return st.builds(
        RemoteCall,
        raises=st.booleans(),
        after=st.sampled_from(_AFTER),
        result=st.integers(0, 9),
    )
