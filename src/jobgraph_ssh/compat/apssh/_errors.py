"""Connection failures raised as apssh raised them.

apssh lets asyncssh's and the OS's exceptions through: a host that is off raises
``ConnectionRefusedError`` (an ``OSError``), a host behind a gateway that cannot be
reached ``asyncssh.misc.ChannelOpenError`` (an ``asyncssh.Error``). The native layer
raises :class:`jobgraph_ssh.ConnectError` instead, caused by that exception. The
compat layer raises an exception of a class that is both: a subclass of the original
exception's class and of the native error's (``ConnectError``, ``HostKeyError``,
``AuthError``), named as the original (so a traceback
ends as apssh's did), with the original's arguments and attributes and the native
error's (``host``, ``message``). ``except asyncssh.Error:``, ``except OSError:`` and
``except jobgraph_ssh.ConnectError:`` all catch it.
"""

from __future__ import annotations

import threading
from typing import Any

from jobgraph_ssh import ConnectError

__all__ = ["as_apssh_error"]

_classes: dict[tuple[type[BaseException], type[ConnectError]], type[ConnectError]] = {}
_lock = threading.Lock()


def _class_for(
    original: type[BaseException], native: type[ConnectError]
) -> type[ConnectError] | None:
    with _lock:
        both = _classes.get((original, native))
        if both is None:
            namespace: dict[str, Any] = {
                "__module__": original.__module__,
                "__qualname__": original.__qualname__,
                "__str__": original.__str__,
                "__doc__": f"{original.__name__} from the apssh drop-in: also a "
                f"jobgraph_ssh.{native.__name__}.",
            }
            try:
                both = type(original.__name__, (original, native), namespace)
            except TypeError:  # a layout that cannot be mixed in
                return None
            _classes[original, native] = both
        return both


def as_apssh_error(error: ConnectError) -> BaseException:
    """``error`` as apssh raised it (see the module's docstring); ``error`` itself when
    it has no cause from asyncssh or the OS.

    Args:
        error: a native connection error.

    Returns:
        The exception to raise.
    """
    original = error.__cause__
    if original is None or isinstance(original, ConnectError):
        return error
    both = _class_for(type(original), type(error))
    if both is None:
        return error
    raised = both.__new__(both, *original.args)
    vars(raised).update(vars(original))
    vars(raised).update(vars(error))
    raised.__traceback__ = original.__traceback__
    return raised
