"""The first platform admin of a site can log in and add municipalities; a second
bootstrap with the same email is refused."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from identity.bootstrap import create_platform_admin
from identity.errors import Conflict

PASSWORD = "a long first admin password"


async def test_bootstrap_platform_admin(ctx: Any, client: httpx.AsyncClient) -> None:
    slug = f"site-{uuid.uuid4().hex[:6]}"
    email = f"root-{uuid.uuid4().hex[:6]}@example.fi"
    await create_platform_admin(ctx, slug=slug, email=email, display_name="Root", password=PASSWORD)
    login = await client.post(
        "/auth/login", json={"municipality": slug, "email": email, "password": PASSWORD}
    )
    assert login.status_code == 200
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    added = await client.post(
        "/municipalities",
        json={"slug": f"{slug}-b", "name": {"fi": "Uusi"}},
        headers=headers,
    )
    assert added.status_code == 201
    with pytest.raises(Conflict) as again:
        await create_platform_admin(
            ctx, slug=slug, email=email, display_name="Root", password=PASSWORD
        )
    assert again.value.field == "email" and again.value.title == "Already registered"
