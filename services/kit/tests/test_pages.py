"""The one page shape of every collection (kit.pages, docs/api.md): limit and offset as
applied, the next page's link (this request's query, offset moved on) or null on the last,
the total where given. No infrastructure: an HTTP-only app over a list."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, Depends, Request

from kit.pages import Page, Paging, page
from kit.settings import KitSettings
from kit.web import WebService

NUMBERS = list(range(7))


def app(counted: bool) -> WebService:
    web = WebService("kittest", settings=KitSettings(mongo_kind="mongodb"))
    router = APIRouter()
    paged = Depends(Paging.of(3, 5))

    @router.get("/numbers")
    async def numbers(request: Request, q: str = "", paging: Paging = paged) -> Page[int]:
        found = NUMBERS[paging.offset : paging.offset + paging.limit]
        total = len(NUMBERS) if counted else None
        answer = page(
            request, web.settings, found, limit=paging.limit, offset=paging.offset, total=total
        )
        return Page[int].model_validate(answer)

    web.include_router(router)
    return web


async def walk(counted: bool) -> list[dict[str, Any]]:
    transport = httpx.ASGITransport(app=app(counted).create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        pages = [(await client.get("/numbers", params={"q": "x y"})).json()]
        while pages[-1]["next"]:
            pages.append((await client.get(pages[-1]["next"])).json())
        assert (await client.get("/numbers?limit=6")).status_code == 422  # over the maximum
        assert (await client.get("/numbers?offset=-1")).status_code == 422
    return pages


async def test_pages_link_to_the_next_until_the_last() -> None:
    pages = await walk(counted=True)
    assert [p["items"] for p in pages] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [p["offset"] for p in pages] == [0, 3, 6] and {p["limit"] for p in pages} == {3}
    assert pages[0]["next"] == "http://svc/numbers?q=x+y&offset=3"  # the query kept
    assert pages[-1]["next"] is None and {p["total"] for p in pages} == {7}


async def test_without_a_total_a_full_page_links_on() -> None:
    pages = await walk(counted=False)
    assert [p["items"] for p in pages] == [[0, 1, 2], [3, 4, 5], [6]]
    assert pages[-1]["next"] is None and {p["total"] for p in pages} == {None}
