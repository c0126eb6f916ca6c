"""HTTP: the personal calendar feed (secret URL; the secret is the credential)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from bookings.api.views import FeedIssued
from bookings.feed import feed_ics, issue_feed, revoke_feed
from bookings.rules import BOOKER_ROLES
from kit.app import Service
from kit.auth import Principal
from kit.links import public_base
from kit.openapi import file_response, returns


def build_router(svc: Service) -> APIRouter:
    router = APIRouter(tags=["feed"])
    booker = Depends(svc.auth.require(*BOOKER_ROLES))

    @router.post("/me/feed", **returns(FeedIssued, "The new feed URL", 201))
    async def issue(request: Request, principal: Principal = booker) -> dict[str, Any]:
        """A new secret feed URL; any earlier URL stops working."""
        token = await issue_feed(svc, principal)
        base = public_base(request, svc.settings)
        return {"url": f"{base}/feeds/{token}.ics", "token": token}

    @router.delete("/me/feed", status_code=204)
    async def revoke(principal: Principal = booker) -> Response:
        """Revokes the caller's personal calendar feed link: the old address stops answering at
        once."""
        await revoke_feed(svc, principal)
        return Response(status_code=204)

    @router.get(
        "/feeds/{token}.ics", **file_response("The caller's bookings as iCalendar", "text/calendar")
    )
    async def ics(token: str) -> Response:
        """The personal calendar feed (iCalendar) of the holder of the link's token: their bookings
        and event registrations. No other authentication: the token is the secret, revoked with
        DELETE /me/feed."""
        return Response(await feed_ics(svc, token), media_type="text/calendar; charset=utf-8")

    return router
