"""Making re-exported names report the public module they are documented in."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["fixup_module_metadata"]


def _is_private(module: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in module.split("."))


def fixup_module_metadata(
    module_name: str, namespace: Mapping[str, object], *, also_from: tuple[str, ...] = ()
) -> None:
    """Make the public names of ``namespace`` report ``module_name`` as their module.

    As trio and anyio do: a class or function defined in a private module
    (``jobgraph._core._scheduler``) and exported by a public one (``jobgraph``) then
    shows as ``jobgraph.Scheduler`` in reprs, tracebacks, documentation and pickles. Only
    names listed in ``namespace["__all__"]`` whose ``__module__`` is private are changed
    (with the methods defined in such classes), so a name exported by two public modules
    keeps the first one that fixed it.

    Args:
        module_name: the public module, like ``"jobgraph"``.
        namespace: that module's ``globals()``.
        also_from: public modules whose names this module claims too (``jobgraph``
            claims :class:`~jobgraph.Progress` from ``jobgraph.views``, which may have
            fixed it first).
    """
    seen: set[int] = set()

    def fix(obj: object) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        module = getattr(obj, "__module__", None)
        if not isinstance(module, str):
            return
        if not _is_private(module) and module not in also_from:
            return
        if not module.startswith(module_name.partition(".")[0] + "."):
            return  # not ours (a re-exported name of another library)
        try:
            obj.__module__ = module_name
        except (AttributeError, TypeError):  # typing aliases and the like
            return
        if isinstance(obj, type):
            for value in list(vars(obj).values()):
                if isinstance(value, property):
                    fix(value.fget)
                    fix(value.fset)
                elif callable(value) or isinstance(value, classmethod | staticmethod):
                    fix(getattr(value, "__func__", value))

    names = namespace.get("__all__", ())
    assert isinstance(names, list | tuple)
    for name in names:
        fix(namespace[name])
