"""Drop-in replacements for other SSH libraries, built on :mod:`jobgraph_ssh`."""
