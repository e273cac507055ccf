"""Drop-in replacements for other SSH libraries, built on :mod:`jobgraph_ssh`.

- :mod:`jobgraph_ssh.compat.apssh`: the API of apssh 0.27, so that a script only changes
  its imports. See ``docs/migrating.md``.
"""

__all__: list[str] = []
