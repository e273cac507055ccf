"""The functions that the harness's Call jobs run on the node: standard library only.

The node imports this file on demand, like any module of a user's project. It is
loaded under the top-level name ``jobgraph_ssh_testing_functions`` (see
``jobgraph_ssh.testing``), not as ``jobgraph_ssh.testing._functions``: a node importing
the latter would first import the ``jobgraph_ssh`` package itself, which needs
asyncssh. Written for the oldest ``python3`` a node may have (3.8).
"""

from __future__ import annotations

import time

__all__ = ["HarnessCallError", "fail", "give"]


class HarnessCallError(Exception):
    """What :func:`fail` raises on the node, on purpose; it names the job."""


def give(result: int, after: float) -> int:
    """Sleep ``after`` seconds, then return ``result``.

    Args:
        result: what to return.
        after: seconds to sleep first.

    Returns:
        ``result``.
    """
    time.sleep(after)
    return result


def fail(job: str, after: float) -> None:
    """Sleep ``after`` seconds, then raise :class:`HarnessCallError` naming ``job``.

    Args:
        job: the job's label, for the message.
        after: seconds to sleep first.

    Raises:
        HarnessCallError: always.
    """
    time.sleep(after)
    raise HarnessCallError("job " + repr(job) + " failed on purpose")
