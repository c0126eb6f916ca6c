"""Consents with timestamps and history. Withdrawing ESF consent withdraws the
pseudonymous participant profile from statistics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from pymongo.asynchronous.client_session import AsyncClientSession

from contracts import identity as idc
from identity import participant  # the ESF profile follows its consents
from identity.core import Identity
from identity.errors import Conflict
from identity.purpose import Purpose
from kit.requests import Strict


class ConsentIn(Strict):
    granted: bool


class ConsentOut(BaseModel):
    purpose: str
    granted: bool
    changed_at: datetime
    history: list[dict[str, Any]]


def to_out(doc: dict[str, Any]) -> ConsentOut:
    return ConsentOut(
        purpose=doc["purpose"],
        granted=doc["granted"],
        changed_at=doc["changed_at"],
        history=[{"granted": h["granted"], "at": h["at"]} for h in doc.get("history", [])],
    )


async def record(
    ctx: Identity,
    session: AsyncClientSession,
    user: dict[str, Any],
    purpose: str,
    granted: bool,
    now: datetime,
) -> None:
    await ctx.db.consents.update_one(
        {"_id": f"{user['_id']}:{purpose}"},
        {
            "$set": {
                "user_id": user["_id"],
                "municipality": user["municipality"],
                "purpose": purpose,
                "granted": granted,
                "changed_at": now,
            },
            "$push": {"history": {"granted": granted, "at": now}},
        },
        upsert=True,
        session=session,
    )
    await ctx.emit(
        session,
        idc.CONSENT_CHANGED,
        idc.ConsentChanged(user_id=user["_id"], purpose=purpose, granted=granted, changed_at=now),
        municipality=user["municipality"],
        subject=f"user/{user['_id']}",
    )


async def list_for(ctx: Identity, user_id: str) -> list[dict[str, Any]]:
    return await ctx.db.consents.find({"user_id": user_id}, sort=[("purpose", 1)]).to_list()


async def change(
    ctx: Identity, user: dict[str, Any], purpose: Purpose, grant: bool
) -> dict[str, Any]:

    if purpose is Purpose.terms and not grant:
        raise Conflict(
            "The terms cannot be withdrawn while the account exists; erase the account instead.",
            field="granted",
            title="Terms are required",
        )
    key = {"_id": f"{user['_id']}:{purpose}"}
    current = await ctx.db.consents.find_one(key)
    if current is not None and current["granted"] == grant:
        return current  # no change, no event
    now = datetime.now(UTC)
    async with ctx.svc.uow() as uow:
        session = uow.session
        await record(ctx, session, user, purpose, grant, now)
        if purpose in (Purpose.esf_statistics, Purpose.esf_sensitive):
            await participant.publish(ctx, session, user)
    return await ctx.db.consents.find_one(key) or {}
