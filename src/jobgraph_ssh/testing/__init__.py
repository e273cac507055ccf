"""The property harness of :mod:`jobgraph.testing`, drawing SSH jobs too.

Needs hypothesis (``pip install jobgraph[testing]``). :class:`RemoteCall` is a drawn
job that is an :class:`~jobgraph_ssh.SshJob` of one :class:`~jobgraph_ssh.Call` on a
:class:`~jobgraph_ssh.LocalNode`; :func:`remote_calls` draws them. Mixed with the
harness's own behaviours, the oracle checks them as any other job::

    from hypothesis import given, strategies as st
    from jobgraph.testing import assert_valid, behaviours, graphs, run_graph
    from jobgraph_ssh.testing import remote_calls

    @given(graphs(jobs=st.one_of(behaviours(), remote_calls())))
    def test_calls(spec):
        assert_valid(run_graph(spec, backend="trio"))

Real clocks only (``"asyncio"`` or ``"trio"``): each call starts an interpreter.
"""

from jobgraph.lowlevel import fixup_module_metadata as _fixup_module_metadata
from jobgraph.testing import Behaviour as _Behaviour  # noqa: F401  # names the extra if missing
from jobgraph_ssh.testing._calls import (
    FUNCTIONS_MODULE,
    RemoteCall,
    functions_module,
    remote_calls,
)

__all__ = ["FUNCTIONS_MODULE", "RemoteCall", "functions_module", "remote_calls"]

_fixup_module_metadata(__name__, globals())
