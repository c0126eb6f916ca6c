"""Operators: the delivery log, failed notices and their retry (staff/admin, own
municipality only). Erased users' entries show no recipient or content."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from kit.app import Service
from kit.auth import Principal
from kit.pages import Page, Paging, page
from kit.problems import Problem
from notifications.notices import FAILED, QUEUED, NoticeStatus, log_entry


class LogEntry(BaseModel):
    at: datetime
    status: str
    reason: str | None = None


class DeliveryOut(BaseModel):
    id: str
    user_id: str
    kind: str
    channel: str
    status: NoticeStatus
    attempts: int
    cause_event_id: str
    created: datetime
    last_error: str | None = None
    log: list[LogEntry]


def _out(n: dict[str, Any]) -> DeliveryOut:
    return DeliveryOut(
        id=n["_id"],
        user_id=n["user_id"],
        kind=n["kind"],
        channel=n["channel"],
        status=n["status"],
        attempts=n.get("attempts", 0),
        cause_event_id=n["cause_event_id"],
        created=n["created"],
        last_error=n.get("last_error"),
        log=[LogEntry(**{k: e.get(k) for k in ("at", "status", "reason")}) for e in n["log"]],
    )


def build_router(svc: Service, wake_sender: Any) -> APIRouter:
    router = APIRouter(prefix="/notifications/deliveries", tags=["operators"])
    staff = Depends(svc.auth.require("staff", "admin"))
    pages_of_100 = Depends(Paging.of(100, 500))

    @router.get("", name="list")
    async def deliveries(
        request: Request,
        principal: Principal = staff,
        status: NoticeStatus = NoticeStatus.failed,
        paging: Paging = pages_of_100,
    ) -> Page[DeliveryOut]:
        """Deliveries of notices in the caller's municipality, a page at a time (staff)."""
        limit, offset = paging.limit, paging.offset
        found = await svc.store.db.notices.find(
            {"municipality": principal.municipality, "status": status},
            sort=[("created", -1)],
            skip=offset,
            limit=limit + 1,  # one past the page: whether another follows, without a count
        ).to_list()
        items = [_out(n) for n in found[:limit]]
        answer = page(
            request, svc.settings, items, limit=limit, offset=offset, more=len(found) > limit
        )
        return Page[DeliveryOut].model_validate(answer)

    async def load(notice_id: str, principal: Principal) -> dict[str, Any]:
        notice = await svc.store.db.notices.find_one(
            {"_id": notice_id, "municipality": principal.municipality}
        )
        if notice is None:
            raise Problem(404, "Not found", f"No notice {notice_id}.", field="notice_id")
        return notice

    @router.get("/{notice_id}", name="get")
    async def delivery(notice_id: str, principal: Principal = staff) -> DeliveryOut:
        """One delivery with its attempts and log (staff and admins of its municipality)."""
        return _out(await load(notice_id, principal))

    @router.post("/{notice_id}/retry", status_code=202)
    async def retry(notice_id: str, principal: Principal = staff) -> DeliveryOut:
        """Sends a failed delivery again (staff and admins of its municipality)."""
        notice = await load(notice_id, principal)
        if notice["user_id"] == "erased":
            raise Problem(409, "Conflict", "The recipient was erased.", field="notice_id")
        result = await svc.store.db.notices.update_one(
            {"_id": notice_id, "status": FAILED},
            {
                "$set": {"status": QUEUED, "due": datetime.now(UTC), "attempts": 0},
                "$push": {"log": log_entry(QUEUED, f"retry by {principal.subject}")},
            },
        )
        if not result.modified_count:
            raise Problem(
                409,
                "Conflict",
                f"Only failed notices can be retried; this one is {notice['status']}.",
                field="notice_id",
            )
        wake_sender()
        return _out(await load(notice_id, principal))

    return router
