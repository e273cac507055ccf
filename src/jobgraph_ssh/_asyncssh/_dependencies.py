"""Imported first by :mod:`jobgraph_ssh`: its third-party dependencies, quietly.

A missing one raises :class:`jobgraph.MissingDependencyError`, naming the extra that
installs it (``pip install 'jobgraph[ssh]'``), instead of a bare ``ModuleNotFoundError``
from deep inside the package.
"""

from __future__ import annotations

import warnings

import jobgraph as jg


def _import_dependencies() -> None:
    """Import asyncssh and jinja2 once, quietly, or say which extra installs them.

    cryptography 47 and later deprecate DSA, and asyncssh names the DSA classes while it
    is imported, so a plain ``import asyncssh`` prints ten ``CryptographyDeprecationWarning``
    lines (a ``UserWarning``, shown by default) that no user of ours can act on. The filter
    below is scoped to that one message, raised from asyncssh's own modules, during this
    import only: ``catch_warnings`` restores the user's filters as they were. A later use of
    a DSA key still warns, as it should.
    """
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"asyncssh(\.|$)")
            import asyncssh  # noqa: F401
        import jinja2  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name not in ("asyncssh", "jinja2", "cryptography"):
            raise
        raise jg.MissingDependencyError("jobgraph_ssh", exc.name, "ssh") from None


_import_dependencies()
