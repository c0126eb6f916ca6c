"""The in-app inbox: a user reads only their own notices, within their municipality."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from kit.app import Service
from kit.auth import Principal
from kit.pages import Page, Paging, page
from kit.problems import Problem
from notifications.templates import Templates


class InboxItem(BaseModel):
    id: str
    kind: str
    text: str
    subject: str
    created: datetime
    read: bool


class InboxPage(Page[InboxItem]):
    """The caller's notices, newest first (a page: docs/api.md), with how many are unread."""

    unread: int = Field(description="The caller's unread notices (not only this page's)")


class NoticeRead(BaseModel):
    id: str
    read: bool


class MarkedRead(BaseModel):
    marked: int = Field(description="How many notices were unread")


def build_router(svc: Service, templates: Templates) -> APIRouter:
    router = APIRouter(prefix="/notifications/inbox", tags=["inbox"])
    me = Depends(svc.auth.principal)
    pages_of_50 = Depends(Paging.of(50, 200))

    def own(principal: Principal) -> dict[str, Any]:
        return {
            "user_id": principal.subject,
            "municipality": principal.municipality,
            "channel": "inapp",
        }

    @router.get("", name="list")
    async def inbox(
        request: Request,
        principal: Principal = me,
        unread: bool | None = Query(None, description="true: only notices not yet read"),
        # The first name of the filter; my page and the web UI always sent `unread`, which
        # was ignored, so read notices came back too. Still accepted, the same meaning.
        unread_only: bool | None = Query(None, deprecated=True, description="Use `unread`."),
        paging: Paging = pages_of_50,
        lang: str | None = Query(None, pattern=r"^[a-z]{2}$"),
    ) -> InboxPage:
        """The caller's in-app notices, newest first, a page at a time with the total and the count
        of unread ones; `unread=true` for only those not read yet. Rendered in the reader's language
        when read."""
        if unread is not None and unread_only is not None and unread != unread_only:
            raise Problem(
                422,
                "Invalid request",
                "unread and its old name unread_only disagree; send only unread.",
                field="unread_only",
            )
        query = own(principal)
        if unread or unread_only:
            query["read_at"] = None
        db = svc.store.db
        limit, offset = paging.limit, paging.offset
        newest = [("created", -1), ("_id", -1)]
        found = await db.notices.find(query, sort=newest, skip=offset, limit=limit).to_list()
        # A person's notices, on the (user_id, ...) index: cheap to count.
        total = await db.notices.count_documents(query)
        not_read = await db.notices.count_documents({**own(principal), "read_at": None})
        contact = await db.contacts.find_one({"_id": principal.subject}) or {}
        items = []
        for n in found:
            # Rendered when read: in the reader's language of today, not of the sending day.
            r = templates.render(
                n["kind"],
                {**n["context"], "name": contact.get("display_name") or "", "app_url": ""},
                language=lang or contact.get("language"),
                timezone=contact.get("timezone") or svc.settings.timezone,
            )
            items.append(
                InboxItem(
                    id=n["_id"],
                    kind=n["kind"],
                    text=r.short,
                    subject=r.subject,
                    created=n["created"],
                    read=n.get("read_at") is not None,
                )
            )
        answer = page(request, svc.settings, items, limit=limit, offset=offset, total=total)
        return InboxPage.model_validate({**answer, "unread": not_read})

    @router.post("/{notice_id}/read")
    async def mark_read(notice_id: str, principal: Principal = me) -> NoticeRead:
        """Marks one of the caller's notices read (404 for someone else's)."""
        result = await svc.store.db.notices.update_one(
            {"_id": notice_id, **own(principal)},
            {"$set": {"read_at": datetime.now(UTC)}},
        )
        if not result.matched_count:
            # Someone else's notice looks the same as a missing one.
            raise Problem(
                404, "Not found", f"No notice {notice_id} in your inbox.", field="notice_id"
            )
        return NoticeRead(id=notice_id, read=True)

    @router.post("/read-all")
    async def mark_all_read(principal: Principal = me) -> MarkedRead:
        """Marks every notice of the caller read; answers how many were unread."""
        result = await svc.store.db.notices.update_many(
            {**own(principal), "read_at": None}, {"$set": {"read_at": datetime.now(UTC)}}
        )
        return MarkedRead(marked=result.modified_count)

    return router
