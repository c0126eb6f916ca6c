"""A domain's errors are not HTTP answers: the API layer maps them (`map_errors`), and the
kit answers each as the problem+json it maps to (no infrastructure: an HTTP-only app)."""

from __future__ import annotations

import httpx
from fastapi import APIRouter

from kit.problems import Problem
from kit.settings import KitSettings
from kit.web import WebService


class Refused(Exception):
    def __init__(self, field: str) -> None:
        super().__init__(f"{field} is not allowed")
        self.field = field


class Other(Exception):
    pass


async def test_mapped_errors_become_their_problems_and_others_do_not() -> None:
    web = WebService("kittest", settings=KitSettings(mongo_kind="mongodb"))
    router = APIRouter()

    @router.get("/refused")
    async def refused() -> None:
        raise Refused("colour")

    @router.get("/other")
    async def other() -> None:
        raise Other("not mapped")

    web.include_router(router)
    web.map_errors(Refused, lambda e: Problem(409, "Refused", str(e), field=e.field))
    transport = httpx.ASGITransport(app=web.create_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        answer = await client.get("/refused")
        assert answer.status_code == 409
        assert answer.headers["content-type"] == "application/problem+json"
        body = answer.json()
        assert body["title"] == "Refused" and body["detail"] == "colour is not allowed"
        assert body["errors"] == [{"field": "colour", "message": "colour is not allowed"}]
        assert (await client.get("/other")).status_code == 500
