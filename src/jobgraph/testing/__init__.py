"""Property-based testing for jobgraph: draw job graphs, run them, judge the runs.

Needs hypothesis (``pip install jobgraph[testing]``). The parts:

- strategies that draw whole graphs (:func:`graphs`) and job behaviours
  (:func:`behaviours`, :func:`forever_behaviours`, :func:`retry_specs`), as plain data
  (:class:`SchedulerSpec`, :class:`JobSpec`) that hypothesis prints and shrinks; a
  :class:`CallService` job calls the run's services (:func:`harness_pool`: plain,
  failing, refused, badly typed, serialized and deduplicated calls);
- :func:`run_graph` builds a drawn graph, runs it on ``"asyncio"``, ``"trio"`` or
  ``"trio-mockclock"`` and returns a :class:`Trace` of the engine's events and of what
  the job bodies observed;
- the oracle: :func:`check` lists every way a trace departs from the engine's
  semantics, in plain words; :func:`assert_valid` raises with them;
- :func:`check_job_kind` runs a custom job kind through cancellation, timeout,
  failure and shutdown, and reports broken contracts;
- the seam for other job kinds: a :class:`Behaviour` subclass builds its job as any
  kind (:meth:`Behaviour.make_job`), notes each attempt with :meth:`Recorder.observe`
  and tells the oracle what to expect (:meth:`Behaviour.value_of`,
  :meth:`Behaviour.plan`, a :class:`Plan`); ``graphs(jobs=...)`` draws it among the
  others (``jobgraph_ssh.testing`` does so for SSH jobs of Calls);
- hypothesis profiles ``dev``, ``ci`` and ``soak`` (:func:`load_profile`).

A test of the engine is three lines::

    from hypothesis import given
    from jobgraph.testing import assert_valid, graphs, run_graph

    @given(graphs())
    def test_engine(spec):
        assert_valid(run_graph(spec, backend="trio-mockclock"))
"""

from jobgraph.lowlevel import fixup_module_metadata as _fixup_module_metadata

# before the harness: a missing extra is named, not a ModuleNotFoundError from deep inside
from jobgraph.testing import _dependencies  # noqa: F401  # isort: split
from jobgraph.testing._behaviours import (
    Behaviour,
    BehaviourError,
    CallService,
    Flaky,
    Hang,
    Observation,
    Plan,
    Raise,
    Recorder,
    Return,
    Serve,
    Stubborn,
    make_body,
)
from jobgraph.testing._kind import KindReport, check_job_kind
from jobgraph.testing._oracle import assert_valid, check, is_deterministic, summary
from jobgraph.testing._profiles import (
    PROFILE_ENV,
    PROFILES,
    backends_for_profile,
    load_profile,
    register_profiles,
)
from jobgraph.testing._runner import (
    BACKENDS,
    Outcome,
    Trace,
    TraceEvent,
    run_graph,
    run_graph_async,
)
from jobgraph.testing._services import SHARED_DELAY, harness_pool
from jobgraph.testing._specs import Built, JobSpec, Node, RetrySpec, SchedulerSpec, build
from jobgraph.testing._strategies import (
    behaviours,
    forever_behaviours,
    graphs,
    retry_specs,
    service_calls,
)

__all__ = [
    "BACKENDS",
    "PROFILES",
    "PROFILE_ENV",
    "SHARED_DELAY",
    "Behaviour",
    "BehaviourError",
    "Built",
    "CallService",
    "Flaky",
    "Hang",
    "JobSpec",
    "KindReport",
    "Node",
    "Observation",
    "Outcome",
    "Plan",
    "Raise",
    "Recorder",
    "RetrySpec",
    "Return",
    "SchedulerSpec",
    "Serve",
    "Stubborn",
    "Trace",
    "TraceEvent",
    "assert_valid",
    "backends_for_profile",
    "behaviours",
    "build",
    "check",
    "check_job_kind",
    "forever_behaviours",
    "graphs",
    "harness_pool",
    "is_deterministic",
    "load_profile",
    "make_body",
    "register_profiles",
    "retry_specs",
    "run_graph",
    "run_graph_async",
    "service_calls",
    "summary",
]

_fixup_module_metadata(__name__, globals())
