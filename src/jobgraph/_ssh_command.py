"""The ``jobgraph-ssh`` console script, installed with every jobgraph.

The command itself is :func:`jobgraph_ssh.cli.main`, which needs the ``ssh`` extra.
The script lives here, in the part that is always installed, so that without the
extra it says so on one line (and exits 2, as for any usage error) instead of a
traceback ending in ``No module named 'asyncssh'``.
"""

from __future__ import annotations

import sys

from ._core._exceptions import MissingDependencyError

EXIT_USAGE = 2


def main() -> int:
    """Run ``jobgraph-ssh``; without the ``ssh`` extra, print one line and return 2.

    Returns:
        The command's exit status (see :func:`jobgraph_ssh.cli.main`).
    """
    try:
        from jobgraph_ssh.cli import main as command
    except MissingDependencyError as exc:
        sys.stderr.write(f"jobgraph-ssh: {exc}\n")
        return EXIT_USAGE
    return command()
