"""An unknown name's error lists only what the caller may call (issue 22, item 14)."""

from __future__ import annotations

import pytest

from jobgraph import services as sv

pytestmark = pytest.mark.anyio


class Admin(sv.Service):
    @sv.expose(sv.AllowCallers(["ops"]))
    def reboot_all(self) -> str:
        return "rebooting"

    @sv.expose(sv.AllowCallers(["ops"]))
    def rotate_keys(self) -> str:
        return "rotated"


class Public(sv.Service):
    @sv.expose(sv.AllowAny())
    def ping(self) -> str:
        return "pong"

    @sv.expose(sv.AllowCallers(["ops"]))
    def drain(self) -> str:
        return "drained"


async def test_unknown_names_list_only_what_the_caller_may_call() -> None:
    stranger = sv.Caller(name="stranger", host="h1")
    ops = sv.Caller(name="ops", host="h1")
    async with sv.ServicePool([Admin(), Public()], label="p") as pool:
        with pytest.raises(sv.UnknownServiceError) as info:
            await pool.call("Nope", "x", caller=stranger)
        assert str(info.value) == "service pool 'p' has no service 'Nope' (it has: 'Public')"
        with pytest.raises(sv.UnknownServiceError) as info:
            await pool.call("Public", "nope", caller=stranger)
        assert str(info.value) == "service 'Public' has no method 'nope' (exposed: 'ping')"
        with pytest.raises(sv.UnknownServiceError) as info:
            await pool.call("Admin", "nope", caller=stranger)
        assert "reboot_all" not in str(info.value) and "(exposed: none)" in str(info.value)
        # a caller allowed to call them sees them
        with pytest.raises(sv.UnknownServiceError) as info:
            await pool.call("Nope", "x", caller=ops)
        assert "(it has: 'Admin', 'Public')" in str(info.value)
        with pytest.raises(sv.UnknownServiceError) as info:
            pool.check_call("Admin", "nope", {}, stranger)
        assert "rotate_keys" not in str(info.value)
    # without a caller, lookup lists every name (for the controller's own program)
    with pytest.raises(sv.UnknownServiceError, match="'reboot_all', 'rotate_keys'"):
        pool.lookup("Admin", "nope")
