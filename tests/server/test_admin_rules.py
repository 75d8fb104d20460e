"""The rule that keeps Traybell administrable (Service._keep_an_admin): nobody disables or
demotes themselves, and the last admin stays one, whoever asks (API, page, command line)."""

import asyncio

import pytest

from server.audit import CLI, Actor
from server.db import create_pool
from server.errors import Conflict
from server.service import Service
from tests.support.live import create_users_directly
from tests.support.live import test_settings as settings_for_tests


def test_an_admin_token_cannot_disable_its_own_user(live_server):
    """POST /v1/admin/users/{own id}/disable is 409 and changes nothing: the user is not
    disabled, so its token still works."""
    with live_server.client(live_server.admin_token) as admin:
        me = admin.get("/v1/me").json()["user"]["user_id"]
        refused = admin.post(f"/v1/admin/users/{me}/disable")
        assert refused.status_code == 409
        assert refused.json()["error"] == {
            "code": "conflict",
            "message": "You cannot disable yourself; ask another admin.",
        }
        assert admin.get("/v1/me").status_code == 200  # not disabled: its token still works


def _with_service(database_url: str, work):
    async def run():
        pool = await create_pool(database_url, min_size=2, max_size=4)
        try:
            return await work(Service(pool, settings_for_tests()))
        finally:
            await pool.close()

    return asyncio.run(run())


def test_the_last_admin_can_be_neither_disabled_nor_demoted(database_url):
    """Even from the command line (no actor to protect), the only admin who is not disabled
    stays an enabled admin; once there is a second one, either may go."""
    create_users_directly(database_url, ["only-admin"], admin=True)

    async def refused(service: Service) -> dict:
        with pytest.raises(Conflict, match="only-admin is the last admin"):
            await service.set_disabled("only-admin", True, CLI)
        with pytest.raises(Conflict, match="only-admin is the last admin"):
            await service.set_admin("only-admin", False, CLI)
        return await service.user("only-admin")

    unchanged = _with_service(database_url, refused)
    assert (unchanged["admin"], unchanged["disabled"]) == (True, False)

    create_users_directly(database_url, ["second-admin"], admin=True)

    async def one_may_go(service: Service) -> None:
        await service.set_admin("only-admin", False, CLI)
        with pytest.raises(Conflict, match="second-admin is the last admin"):
            await service.set_disabled("second-admin", True, CLI)

    _with_service(database_url, one_may_go)


def test_two_admins_demoting_each_other_at_once_leave_one_admin(database_url):
    """The active admins are locked before the rule counts them, so two demotions at the
    same moment cannot both pass: one is refused, one admin remains."""
    create_users_directly(database_url, ["admin-a", "admin-b"], admin=True)

    async def work(service: Service) -> list[object]:
        return await asyncio.gather(
            service.set_admin("admin-b", False, Actor("admin-a", None, None)),
            service.set_admin("admin-a", False, Actor("admin-b", None, None)),
            return_exceptions=True,
        )

    outcomes = _with_service(database_url, work)
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "dict"]

    async def admins(service: Service) -> list[str]:
        return [u["user_id"] for u in await service.users(10) if u["admin"]]

    assert len(_with_service(database_url, admins)) == 1
