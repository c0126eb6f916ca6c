"""GDPR: everything identity holds about a user as one download, and erasure. Erasure
removes the personal data here, keeps a tombstone without it, and publishes user.erased;
each other service answers with `<svc>.erasure.completed`, recorded per service so the user
(with the receipt) or an admin can see that erasure reached every service."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from contracts import identity as idc
from identity.core import Identity
from identity.errors import NotFound
from identity.ratelimit import account_key
from identity.revocation import end_access_tokens

HIDDEN = {"password_hash"}


def _digest(receipt: str) -> str:
    return hashlib.sha256(receipt.encode()).hexdigest()


def _clean(doc: dict[str, Any] | None, *drop: str) -> dict[str, Any] | None:
    if doc is None:
        return None
    return {k: v for k, v in doc.items() if k not in HIDDEN and k not in drop}


async def export(ctx: Identity, user: dict[str, Any]) -> dict[str, Any]:
    uid = user["_id"]
    db = ctx.db
    organisations = await db.organisations.find({"members.user_id": uid}).to_list()
    tokens = await db.refresh_tokens.find(
        {"user_id": uid}, projection={"_id": 0, "current": 0, "spent": 0, "city": 0}
    ).to_list()
    city = await db.external_identities.find(
        {"user_id": uid}, projection={"_id": 0, "issuer": 1, "subject": 1, "linked_at": 1}
    ).to_list()
    return {
        "exported_at": datetime.now(UTC),
        "account": _clean(user),
        "profile": _clean(await db.profiles.find_one({"_id": uid})),
        "mentor_offer": _clean(await db.mentor_offers.find_one({"_id": uid})),
        "consents": [_clean(c) for c in await db.consents.find({"user_id": uid}).to_list()],
        "participant_profile": _clean(await db.participant_profiles.find_one({"_id": uid})),
        "organisations": [
            {
                "id": o["_id"],
                "name": o["name"],
                "role": next(m["role"] for m in o["members"] if m["user_id"] == uid),
            }
            for o in organisations
        ],
        "sessions": tokens,
        "city_logins": city,
    }


class ErasureStatus(BaseModel):
    user_id: str
    requested_at: datetime
    services: dict[str, datetime | None]
    complete: bool


def status_of(answering: Sequence[str], doc: dict[str, Any]) -> ErasureStatus:
    """The erasure in `doc` as the services `answering` besides identity have confirmed it."""
    done = doc.get("services", {})
    expected = ["identity", *answering]
    services = {s: (done[s]["completed_at"] if s in done else None) for s in expected}
    return ErasureStatus(
        user_id=doc["_id"],
        requested_at=doc["requested_at"],
        services=services,
        complete=all(services.values()),
    )


async def erase(ctx: Identity, user: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Erase the user's data here and ask every service to do the same. Returns a receipt
    (shown once) that lets the former user follow the erasure without an account."""
    uid, municipality = user["_id"], user["municipality"]
    now = datetime.now(UTC)
    receipt = secrets.token_urlsafe(24)
    db = ctx.db
    async with ctx.svc.uow() as uow:
        session = uow.session
        erased = 0
        for collection in (db.profiles, db.mentor_offers, db.participant_profiles):
            erased += (await collection.delete_many({"_id": uid}, session=session)).deleted_count
        erased += (await db.consents.delete_many({"user_id": uid}, session=session)).deleted_count
        erased += (
            await db.refresh_tokens.delete_many({"user_id": uid}, session=session)
        ).deleted_count
        erased += (
            await db.account_links.delete_many({"user_id": uid}, session=session)
        ).deleted_count
        # The city login's link: the provider's subject is a personal identifier.
        erased += (
            await db.external_identities.delete_many({"user_id": uid}, session=session)
        ).deleted_count
        erased += (
            await db.organisations.update_many(
                {"members.user_id": uid},
                {"$pull": {"members": {"user_id": uid}}, "$inc": {"revision": 1}},
                session=session,
            )
        ).modified_count
        # Copies of personal data outside identity's own records: outbox entries naming the
        # user that still carry unsent contact details (a published entry is deleted by
        # the relay), and the login-failure counter keyed by the email. The erasure
        # events staged below are not affected.
        mentions = {"$regex": re.escape(uid)}
        erased += await ctx.svc.outbox.forget(session, uid)  # events nobody could receive
        erased += (
            await db.outbox.delete_many(
                {"body": mentions, "type": idc.CONTACT_CHANGED}, session=session
            )
        ).deleted_count
        await ctx.throttle.forget_account(account_key(municipality, user["email"]), session)
        # Their access tokens end in every service now, not when they expire. Tokens carry
        # whole seconds (`iat`) and services refuse those issued before the moment given,
        # so one issued in this same second would survive: an erased account has no later
        # token to spare, so every token up to the end of this second ends.
        await end_access_tokens(
            ctx, session, user, idc.RevocationReason.erased, now + timedelta(seconds=1)
        )
        # A tombstone: the id stays (for the erasure status), the person does not.
        await db.users.replace_one(
            {"_id": uid},
            {
                "_id": uid,
                "municipality": municipality,
                "email": f"erased:{uid}",
                "status": "erased",
                "roles": [],
                "erased_at": now,
            },
            session=session,
        )
        erased += 1
        status = {
            "requested_at": now,
            "receipt": _digest(receipt),
            "municipality": municipality,
            "services.identity": {"completed_at": now, "records_erased": erased},
        }
        await db.erasures.update_one({"_id": uid}, {"$set": status}, upsert=True, session=session)
        subject = f"user/{uid}"
        await ctx.emit(
            session,
            idc.USER_ERASED,
            idc.UserErased(user_id=uid, requested_at=now),
            municipality=municipality,
            subject=subject,
        )
        await ctx.emit(
            session,
            idc.ERASURE_COMPLETED,
            idc.IdentityErasureCompleted(user_id=uid, records_erased=erased),
            municipality=municipality,
            subject=subject,
        )
    doc = await db.erasures.find_one({"_id": uid})
    assert doc is not None
    return receipt, doc


async def status_by_receipt(ctx: Identity, receipt: str) -> ErasureStatus:
    doc = await ctx.db.erasures.find_one({"receipt": _digest(receipt)})
    if doc is None:
        raise NotFound("No erasure with this receipt.", field="receipt")
    return status_of(ctx.settings.erasure_services, doc)


async def status_for_user(ctx: Identity, municipality: str, user_id: str) -> ErasureStatus:
    doc = await ctx.db.erasures.find_one({"_id": user_id, "municipality": municipality})
    if doc is None or "requested_at" not in doc:
        raise NotFound("No erasure for this user.")
    return status_of(ctx.settings.erasure_services, doc)
