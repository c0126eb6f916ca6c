"""The request-context middleware: the correlation id comes in (or is made), reaches the
handler and goes back out once; a failing handler is still counted."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, Request

from kit.app import Service
from kit.context import correlation_id
from kit.metrics import HTTP_REQUESTS


def app_with_routes(settings: Any) -> Any:
    svc = Service("kittest", settings=settings)
    router = APIRouter()

    @router.get("/seen")
    async def seen(request: Request) -> dict[str, str | None]:
        return {"state": request.state.correlation_id, "context": correlation_id.get()}

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("handler bug")

    svc.include_router(router)
    return svc.create_app()


async def test_correlation_id_in_handler_and_answer(settings: Any) -> None:
    app = app_with_routes(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        given = await client.get("/seen", headers={"X-Correlation-ID": "abc-123"})
        assert given.json() == {"state": "abc-123", "context": "abc-123"}
        assert given.headers.get_list("x-correlation-id") == ["abc-123"]

        made = await client.get("/seen", headers={"X-Correlation-ID": "bad id; drop table"})
        cid = made.headers["x-correlation-id"]
        assert cid != "bad id; drop table" and made.json()["state"] == cid

        before = HTTP_REQUESTS.labels("kittest", "GET", "/boom", "500")._value.get()
        failed = await client.get("/boom")
        assert failed.status_code == 500
        after = HTTP_REQUESTS.labels("kittest", "GET", "/boom", "500")._value.get()
        assert after == before + 1
