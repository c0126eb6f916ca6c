"""GET /api/v1/me/overview: "my page" in one call. The parts (my bookings, my registrations,
unread notices, ...) are fetched concurrently from their services as the caller; a part
whose service is down or not deployed is reported as such and the rest still arrive."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from gateway.errors import EdgeProblem
from gateway.proxy import exchange
from gateway.settings import MyPagePart
from gateway.upstreams import Upstreams
from kit.auth import Principal
from kit.http import HEADER as CORRELATION_HEADER


class PartStatus(StrEnum):
    """How a part of my page came back (answered as its value)."""

    ok = "ok"
    error = "error"  # the service refused (4xx): its problem is in the part
    unavailable = "unavailable"  # down, unreachable or failing (5xx)
    not_deployed = "not_deployed"  # this site runs no such service


class Part(BaseModel):
    status: PartStatus = Field(description="ok: `data` holds the service's answer")
    service: str
    data: Any = None
    problem: dict[str, Any] | None = Field(
        default=None, description="problem+json of the failing part"
    )


class Overview(BaseModel):
    subject: str
    municipality: str
    complete: bool = Field(description="true when every part is ok")
    parts: dict[str, Part]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "subject": "u-42",
                    "municipality": "helsinki",
                    "complete": False,
                    "parts": {
                        "bookings": {
                            "status": "ok",
                            "service": "bookings",
                            "data": {
                                "items": [],
                                "limit": 100,
                                "offset": 0,
                                "next": None,
                                "total": 0,
                            },
                        },
                        "registrations": {
                            "status": "ok",
                            "service": "events",
                            "data": {
                                "items": [],
                                "limit": 100,
                                "offset": 0,
                                "next": None,
                                "total": 0,
                            },
                        },
                        "notices": {
                            "status": "unavailable",
                            "service": "notifications",
                            "problem": {
                                "type": "https://kohtaamo.fi/problems/upstream-unreachable",
                                "title": "Upstream unreachable",
                                "status": 502,
                            },
                        },
                    },
                }
            ]
        }
    }


async def _part(upstreams: Upstreams, part: MyPagePart, headers: dict[str, str]) -> Part:
    try:
        upstream = upstreams.get(part.service)
        response = await exchange(upstreams, upstream, "GET", part.path, list(headers.items()))
    except EdgeProblem as problem:
        absent = (problem.type_ or "").endswith("service-not-deployed")
        status = PartStatus.not_deployed if absent else PartStatus.unavailable
        return Part(
            status=status,
            service=part.service,
            problem={
                "type": problem.type_,
                "title": problem.title,
                "status": problem.status,
                "detail": problem.detail,
            },
        )
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text[:200]}
    if response.is_success:
        return Part(status=PartStatus.ok, service=part.service, data=body)
    kind = PartStatus.unavailable if response.status_code >= 500 else PartStatus.error
    answer = body if isinstance(body, dict) else {"detail": body}
    return Part(
        status=kind, service=part.service, problem={"status": response.status_code, **answer}
    )


def my_page_router(upstreams: Upstreams, principal: Any) -> APIRouter:
    router = APIRouter(tags=["my page"])

    @router.get(
        "/api/v1/me/overview",
        summary="My page: bookings, registrations and unread notices in one call",
        response_model=Overview,
        responses={401: {"description": "No or invalid token"}},
    )
    async def overview(request: Request, who: Principal = Depends(principal)) -> Overview:
        """My page in one call: the caller's bookings, registrations and unread notices, fetched
        concurrently from their services as the caller. A part whose service refuses, fails or is
        not deployed is reported in its own `status`; the rest still arrive (`complete` is false
        then)."""
        headers = {
            "authorization": request.headers["authorization"],
            CORRELATION_HEADER: request.state.correlation_id,
        }
        names = list(upstreams.settings.my_page)
        parts = await asyncio.gather(
            *(_part(upstreams, upstreams.settings.my_page[n], headers) for n in names)
        )
        by_name = dict(zip(names, parts, strict=True))
        return Overview(
            subject=who.subject,
            municipality=who.municipality,
            complete=all(p.status == "ok" for p in parts),
            parts=by_name,
        )

    return router
