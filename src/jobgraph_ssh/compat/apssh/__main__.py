"""``python -m jobgraph_ssh.compat.apssh ARGS``: apssh's command line (see :mod:`.cli`)."""

from .cli import apssh

if __name__ == "__main__":
    apssh()
