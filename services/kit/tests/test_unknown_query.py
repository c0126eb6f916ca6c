"""Unknown query parameters are refused like unknown body fields (issue 24): 422 naming
each, with the parameter most likely meant; the route's own parameters (aliases included)
and those of its dependencies pass. No infrastructure: an HTTP-only app."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Query

from kit.settings import KitSettings
from kit.web import WebService


def paging(limit: int = 20, offset: int = 0) -> tuple[int, int]:
    return limit, offset


def app() -> WebService:
    web = WebService("kittest", settings=KitSettings(mongo_kind="mongodb"))
    router = APIRouter()

    @router.get("/things")
    async def things(
        start: Annotated[str | None, Query(alias="from")] = None,
        unread: bool | None = None,
        page: tuple[int, int] = Depends(paging),
    ) -> dict[str, int]:
        return {"limit": page[0]}

    web.include_router(router)
    return web


async def test_unknown_parameters_are_named_with_a_hint() -> None:
    transport = httpx.ASGITransport(app=app().create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        ok = await client.get("/things", params={"from": "x", "unread": "true", "limit": 5})
        assert ok.status_code == 200 and ok.json() == {"limit": 5}

        refused = await client.get("/things", params={"limt": 5, "from_": "x", "zzz": 1})
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        errors = {e["field"]: e for e in refused.json()["errors"]}
        assert set(errors) == {"limt", "from_", "zzz"}
        assert errors["limt"]["did_you_mean"] == "limit"
        assert errors["limt"]["message"] == "Unknown query parameter; did you mean 'limit'?"
        assert "did_you_mean" not in errors["zzz"]
        assert errors["zzz"]["type"] == "extra_forbidden"

        # The kit's own routes too; a repeated name is one error; thousands are bounded.
        assert (await client.get("/healthz", params={"verbose": 1})).status_code == 422
        many = await client.get("/things?" + "&".join(f"p{i}=1" for i in range(500)))
        assert many.status_code == 422 and len(many.json()["errors"]) == 20
        twice = await client.get("/things?oops=1&oops=2")
        assert [e["field"] for e in twice.json()["errors"]] == ["oops"]
