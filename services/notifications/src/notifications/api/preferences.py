"""A user's own channel preferences and quiet hours (overriding what identity sent)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field, field_validator
from pymongo.errors import DuplicateKeyError

from kit.app import Service
from kit.auth import Principal
from kit.conditional import Precondition, bump, etag, if_match, stale
from kit.requests import Strict
from notifications import preferences


class QuietHoursIn(Strict):
    start: time
    end: time


class PreferencesIn(Strict):
    channels: (
        Annotated[
            dict[
                Annotated[str, Field(max_length=40)],
                Annotated[list[str], Field(max_length=len(preferences.CHANNELS))],
            ],
            Field(max_length=len(preferences.PREFERENCE_KINDS)),
        ]
        | None
    ) = Field(None, description="kind (or group, or '*') -> channels: email, sms, inapp")
    quiet_hours: QuietHoursIn | None = None

    @field_validator("channels")
    @classmethod
    def known(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        for kind, channels in (value or {}).items():
            if kind not in preferences.PREFERENCE_KINDS:
                raise ValueError(f"unknown kind {kind!r}")
            for channel in channels:
                if channel not in preferences.CHANNELS:
                    raise ValueError(f"unknown channel {channel!r} for {kind!r}")
        return value


class PreferencesOut(BaseModel):
    channels: dict[str, list[str]]
    quiet_hours: dict[str, Any] | None
    timezone: str


def build_router(svc: Service) -> APIRouter:
    router = APIRouter(prefix="/notifications/preferences", tags=["preferences"])
    me = Depends(svc.auth.principal)

    async def current(principal: Principal, response: Response | None = None) -> PreferencesOut:
        """The effective preferences; with `response`, their ETag: the user's own
        overrides' revision (what If-Match checks), and a hash of the answer, which also
        shows what identity sent."""
        db = svc.store.db
        contact = await db.contacts.find_one(
            {"_id": principal.subject, "municipality": principal.municipality}
        )
        override = await db.preferences.find_one(
            {"_id": principal.subject, "municipality": principal.municipality}
        )
        p = preferences.effective(contact, override)
        qh = p["quiet_hours"]
        out = PreferencesOut(
            channels=p["channels"],
            quiet_hours={"start": str(qh["start"]), "end": str(qh["end"])} if qh else None,
            timezone=p["timezone"],
        )
        if response is not None:
            response.headers["ETag"] = etag(override or {}, out.model_dump_json().encode())
            response.headers["Vary"] = "Authorization"
        return out

    @router.get("")
    async def get(response: Response, principal: Principal = me) -> PreferencesOut:
        """The caller's effective notification preferences (their own choices over identity's
        defaults); with its ETag."""
        return await current(principal, response)

    @router.put("")
    async def put(
        body: PreferencesIn,
        response: Response,
        precondition: Annotated[Precondition, Depends(if_match)],
        principal: Principal = me,
    ) -> PreferencesOut:
        """Set my overrides; with If-Match only over the version it names (`"r0-..."`: I
        have none yet), checked in the update's filter (412 otherwise)."""
        fields: dict[str, Any] = {
            "municipality": principal.municipality,
            "updated": datetime.now(UTC),
        }
        if "channels" in body.model_fields_set:
            fields["channels"] = body.channels or preferences.DEFAULT_CHANNELS
        if "quiet_hours" in body.model_fields_set:
            q = body.quiet_hours
            fields["quiet_hours"] = (
                {"start": q.start.isoformat(), "end": q.end.isoformat()} if q else None
            )
        own = svc.store.db.preferences
        try:
            await own.update_one(
                {"_id": principal.subject, **precondition.filter()},
                bump({"$set": fields}),
                upsert=True,
            )
        except DuplicateKeyError:
            if not precondition.given:  # two first saves at once: the other one's error
                raise
            raise stale(await own.find_one({"_id": principal.subject})) from None
        return await current(principal, response)

    return router
