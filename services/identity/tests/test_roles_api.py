"""Role grants and revocations: admins in their own municipality only, network roles only
by a platform admin, events for each change, and staff views scoped to the municipality."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

PASSWORD = "correct horse battery"


def roles_url(municipality: str, user_id: str, role: str) -> str:
    return f"/municipalities/{municipality}/users/{user_id}/roles/{role}"


async def test_admin_grants_and_revokes_in_own_municipality(
    client: httpx.AsyncClient,
    signup: Callable[..., Any],
    staff_user: Callable[..., Any],
    published: Any,
) -> None:
    admin = await staff_user(["admin"])
    resident = await signup()
    uid = resident["user"]["id"]

    granted = await client.put(roles_url("helsinki", uid, "mentor"), headers=admin["headers"])
    assert granted.status_code == 200 and granted.json()["roles"] == ["mentor", "resident"]
    [event] = await published.wait("kohtaamo.identity.role.granted.v1", user_id=uid)
    assert event["data"]["role"] == "mentor" and event["data"]["changed_by"] == admin["user"]["id"]
    [changed] = await published.wait("kohtaamo.identity.user.roles_changed.v1", user_id=uid)
    assert changed["data"]["roles"] == ["mentor", "resident"]

    # A new token carries the role.
    login = {"municipality": "helsinki", "email": resident["email"], "password": PASSWORD}
    me = await client.get(
        "/me",
        headers={
            "Authorization": "Bearer "
            + (await client.post("/auth/login", json=login)).json()["access_token"]
        },
    )
    assert me.json()["roles"] == ["mentor", "resident"]

    # Granting again changes nothing and says nothing.
    again = await client.put(roles_url("helsinki", uid, "mentor"), headers=admin["headers"])
    assert again.status_code == 200
    revoked = await client.delete(roles_url("helsinki", uid, "mentor"), headers=admin["headers"])
    assert revoked.status_code == 200 and revoked.json()["roles"] == ["resident"]
    await published.wait("kohtaamo.identity.role.revoked.v1", user_id=uid)
    assert len(published.of("kohtaamo.identity.role.granted.v1", user_id=uid)) == 1


async def test_role_changes_are_refused_where_they_must_be(
    client: httpx.AsyncClient, signup: Callable[..., Any], staff_user: Callable[..., Any]
) -> None:
    admin = await staff_user(["admin"])
    kouvola_admin = await staff_user(["admin"], "kouvola")
    staff = await staff_user(["staff"])
    resident = await signup()
    uid = resident["user"]["id"]

    as_resident = await client.put(roles_url("helsinki", uid, "staff"), headers=resident["headers"])
    assert as_resident.status_code == 403
    as_staff = await client.put(roles_url("helsinki", uid, "staff"), headers=staff["headers"])
    assert as_staff.status_code == 403
    cross = await client.put(roles_url("helsinki", uid, "staff"), headers=kouvola_admin["headers"])
    assert cross.status_code == 403
    network = await client.put(roles_url("helsinki", uid, "analyst"), headers=admin["headers"])
    assert network.status_code == 403 and network.json()["errors"][0]["field"] == "role"
    unknown = await client.put(roles_url("helsinki", uid, "wizard"), headers=admin["headers"])
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "role"
    own = await client.delete(
        roles_url("helsinki", admin["user"]["id"], "admin"), headers=admin["headers"]
    )
    assert own.status_code == 409
    missing = await client.put(roles_url("helsinki", "nobody", "staff"), headers=admin["headers"])
    assert missing.status_code == 404
    anonymous = await client.put(roles_url("helsinki", uid, "staff"))
    assert anonymous.status_code == 401

    platform = await staff_user(["platform_admin"], "kouvola")
    analyst = await client.put(roles_url("helsinki", uid, "analyst"), headers=platform["headers"])
    assert analyst.status_code == 200 and "analyst" in analyst.json()["roles"]


async def test_staff_see_users_of_their_own_municipality_only(
    client: httpx.AsyncClient, signup: Callable[..., Any], staff_user: Callable[..., Any]
) -> None:
    staff = await staff_user(["staff"])
    resident = await signup()
    listed = await client.get("/municipalities/helsinki/users?limit=200", headers=staff["headers"])
    assert listed.status_code == 200
    assert all(u["municipality"] == "helsinki" for u in listed.json()["items"])
    # Pages (docs/api.md): limit, offset, the next page's link and the total.
    first = (
        await client.get("/municipalities/helsinki/users?limit=1", headers=staff["headers"])
    ).json()
    assert first["limit"] == 1 and first["offset"] == 0 and len(first["items"]) == 1
    assert first["total"] >= 2 and first["next"].endswith(
        "/municipalities/helsinki/users?limit=1&offset=1"
    )
    second = (await client.get(first["next"], headers=staff["headers"])).json()
    assert second["offset"] == 1 and second["items"][0]["id"] != first["items"][0]["id"]
    last = (
        await client.get(
            f"/municipalities/helsinki/users?limit=1&offset={first['total'] - 1}",
            headers=staff["headers"],
        )
    ).json()
    assert len(last["items"]) == 1 and last["next"] is None
    one = await client.get(
        f"/municipalities/helsinki/users/{resident['user']['id']}", headers=staff["headers"]
    )
    assert one.status_code == 200 and one.json()["email"] == resident["email"]
    other = await client.get("/municipalities/kouvola/users", headers=staff["headers"])
    assert other.status_code == 403
    as_resident = await client.get("/municipalities/helsinki/users", headers=resident["headers"])
    assert as_resident.status_code == 403
    bad_limit = await client.get("/municipalities/helsinki/users?limit=0", headers=staff["headers"])
    assert bad_limit.status_code == 422 and bad_limit.json()["errors"][0]["field"] == "limit"
