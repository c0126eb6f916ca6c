"""What ends a user's access tokens before they expire: a password change, a role taken
away and an erasure publish `identity.user.tokens_revoked`, and every service (identity
too) refuses the user's older tokens within seconds; a new login or refresh works."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from contracts import identity as idc
from kit.testing import eventually

PASSWORD = "correct horse battery"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def refused(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    async def gone() -> bool:
        answer = await client.patch("/me/contact", json={"display_name": "X"}, headers=headers)
        return answer.status_code == 401 and "revoked" in answer.json()["detail"]

    await eventually(gone, timeout=10)


async def test_password_change_role_removal_and_erasure_end_older_tokens(
    client: httpx.AsyncClient,
    signup: Callable[..., Any],
    staff_user: Callable[..., Any],
    published: Any,
) -> None:
    changer, mentor, leaver = await signup(), await signup(), await signup()
    admin = await staff_user(["admin"])
    role = f"/municipalities/helsinki/users/{mentor['user']['id']}/roles/mentor"
    assert (await client.put(role, headers=admin["headers"])).status_code == 200
    login = {"municipality": "helsinki", "email": mentor["email"], "password": PASSWORD}
    as_mentor = (await client.post("/auth/login", json=login)).json()
    # Tokens carry whole seconds (`iat`): the changes come in a later second than them.
    await asyncio.sleep(1.1)

    change = {"current_password": PASSWORD, "new_password": "a much better passphrase"}
    assert (
        await client.put("/me/password", json=change, headers=changer["headers"])
    ).status_code == 204
    assert (await client.delete(role, headers=admin["headers"])).status_code == 200
    erased = await client.post("/me/erase", json={"password": PASSWORD}, headers=leaver["headers"])
    assert erased.status_code == 200

    for who, reason in (
        (changer, "password_changed"),
        (mentor, "role_removed"),
        (leaver, "erased"),
    ):
        [event] = await published.wait(idc.TOKENS_REVOKED, user_id=who["user"]["id"])
        assert event["data"]["reason"] == reason and event["subject"] == f"user/{who['user']['id']}"
    await refused(client, changer["headers"])
    await refused(client, bearer(as_mentor["access_token"]))
    await refused(client, leaver["headers"])

    # A new login after the password change works; so does a refresh after the role was
    # taken away, with the roles the user has now.
    login = {"municipality": "helsinki", "email": changer["email"]}
    new = await client.post("/auth/login", json={**login, "password": change["new_password"]})
    assert (await client.get("/me", headers=bearer(new.json()["access_token"]))).status_code == 200
    fresh = await client.post("/auth/refresh", json={"refresh_token": as_mentor["refresh_token"]})
    me = await client.get("/me", headers=bearer(fresh.json()["access_token"]))
    assert me.status_code == 200 and me.json()["roles"] == ["resident"]


async def test_a_disabled_account_cannot_log_in_and_its_tokens_end(
    client: httpx.AsyncClient,
    signup: Callable[..., Any],
    staff_user: Callable[..., Any],
    published: Any,
) -> None:
    user, admin = await signup(), await staff_user(["admin"])
    uid = user["user"]["id"]
    url = f"/municipalities/helsinki/users/{uid}"
    elsewhere = await staff_user(["admin"], "kouvola")
    assert (await client.post(f"{url}/disable", headers=elsewhere["headers"])).status_code == 403
    assert (await client.post(f"{url}/disable", headers=user["headers"])).status_code == 403
    own = f"/municipalities/helsinki/users/{admin['user']['id']}/disable"
    assert (await client.post(own, headers=admin["headers"])).status_code == 409
    await asyncio.sleep(1.1)  # the user's token is from an earlier second than the change

    assert (await client.post(f"{url}/disable", headers=admin["headers"])).status_code == 200
    [event] = await published.wait(idc.TOKENS_REVOKED, user_id=uid)
    assert event["data"]["reason"] == "disabled"
    await refused(client, user["headers"])
    login = {"municipality": "helsinki", "email": user["email"], "password": PASSWORD}
    assert (await client.post("/auth/login", json=login)).status_code == 401
    refresh = {"refresh_token": user["tokens"]["refresh_token"]}
    assert (await client.post("/auth/refresh", json=refresh)).status_code == 401

    assert (await client.post(f"{url}/enable", headers=admin["headers"])).status_code == 200
    again = await client.post("/auth/login", json=login)
    assert again.status_code == 200
    assert (
        await client.get("/me", headers=bearer(again.json()["access_token"]))
    ).status_code == 200
