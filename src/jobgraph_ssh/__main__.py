"""``python -m jobgraph_ssh``: the ``jobgraph-ssh`` command."""

import sys

from .cli import main

sys.exit(main())
