"""One pagination convention for every collection of every service (issue 24,
docs/api.md "Collections"): `limit` and `offset` query parameters, and an answer

    {"items": [...], "limit": 20, "offset": 40, "next": "<link>" | null, "total": 123 | null}

`next` is the absolute link to the next page (this request's query with `offset` moved on,
built on kit.links.public_base, so it is right behind the gateway too) or null on the last
page; `total` is given where counting is cheap, else null."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from fastapi import Query, Request
from pydantic import BaseModel, Field

from kit.links import public_base
from kit.settings import KitSettings

Item = TypeVar("Item")
OFFSET_MAX = 100_000  # deeper than anyone pages; a bound the store's skip can afford


class Page(BaseModel, Generic[Item]):
    """A page of a collection."""

    items: list[Item]
    limit: int = Field(description="The most items a page holds", examples=[20])
    offset: int = Field(description="How many items came before this page", examples=[0])
    next: str | None = Field(
        description="The next page's link; null on the last page",
        examples=["https://kohtaamo.example/api/v1/events?limit=20&offset=20"],
    )
    total: int | None = Field(
        default=None, description="How many items there are in all; null where not counted"
    )


class Paging:
    """`limit` and `offset` query parameters: `paging: Paging = Depends(Paging.of(50, 200))`."""

    def __init__(self, limit: int, offset: int) -> None:
        self.limit = limit
        self.offset = offset

    @staticmethod
    def of(default: int = 50, maximum: int = 200) -> Any:
        # Async although it awaits nothing: FastAPI runs a plain function dependency in
        # its thread pool (kit.conditional.if_match).
        async def paging(
            limit: int = Query(default=default, ge=1, le=maximum, description="Items a page"),
            offset: int = Query(default=0, ge=0, le=OFFSET_MAX, description="Items to skip"),
        ) -> Paging:
            return Paging(limit, offset)

        return paging


def next_link(request: Request, settings: KitSettings, offset: int | None) -> str | None:
    """This request's link with `offset` replaced (None: no next page)."""
    if offset is None or offset > OFFSET_MAX:
        return None
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "offset"]
    query.append(("offset", str(offset)))
    return f"{public_base(request, settings)}{request.url.path}?{urlencode(query)}"


def page(
    request: Request,
    settings: KitSettings,
    items: list[Any],
    *,
    limit: int,
    offset: int,
    more: bool | None = None,
    total: int | None = None,
) -> dict[str, Any]:
    """The answer for `items` read with `limit` and `offset`. Whether there is a next page:
    `more` when the reader knows (it read one item past the page), else from `total`, else
    a full page is taken to have a next one (a last full page then links an empty one)."""
    if more is None:
        more = offset + len(items) < total if total is not None else len(items) >= limit
    following = offset + len(items) if more and items else None
    return {
        "items": items,
        "limit": limit,
        "offset": offset,
        "next": next_link(request, settings, following),
        "total": total,
    }


async def found(
    request: Request,
    settings: KitSettings,
    collection: Any,
    query: dict[str, Any],
    paging: Paging,
    *,
    sort: list[tuple[str, int]],
    view: Callable[[dict[str, Any]], Any],
    counted: bool = True,
) -> dict[str, Any]:
    """The page of a store query: `paging`'s slice of `query`'s matches in `sort` order, each
    shown by `view`, with `total` counted (for queries on an index's prefix, where counting is
    cheap) or, when not `counted`, one item read past the page to know whether another
    follows."""
    limit, offset = paging.limit, paging.offset
    extra = 0 if counted else 1
    docs = await collection.find(query, sort=sort, skip=offset, limit=limit + extra).to_list()
    items = [view(d) for d in docs[:limit]]
    if not counted:
        return page(request, settings, items, limit=limit, offset=offset, more=len(docs) > limit)
    total = await collection.count_documents(query)
    return page(request, settings, items, limit=limit, offset=offset, total=total)


def listed(
    request: Request, settings: KitSettings, items: Sequence[Any], paging: Paging
) -> dict[str, Any]:
    """The page of a list already known whole (a few items: a municipality's consents, the
    municipalities), with its size as `total`."""
    chosen = list(items[paging.offset : paging.offset + paging.limit])
    return page(
        request, settings, chosen, limit=paging.limit, offset=paging.offset, total=len(items)
    )
