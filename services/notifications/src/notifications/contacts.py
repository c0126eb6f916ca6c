"""The contact directory, kept from identity's events (never asked of identity)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from contracts import identity as idc
from notifications.store import find_by_ids

STAFF_ROLES = ("staff", "admin")
Db = AsyncDatabase[dict[str, Any]]


async def record_contact(
    db: Db,
    *,
    municipality: str,
    data: idc.ContactChanged,
    at: datetime,
    session: AsyncClientSession | None,
) -> bool:
    """Keep the latest contact details: `at` is the change's time (`Delivery.time`, never
    later than its arrival, so a sender's clock ahead cannot hold later changes back). A
    change older than the one kept (a retried message arriving after a newer one) is
    ignored; False then."""
    known = await db.contacts.find_one(
        {"_id": data.user_id}, projection={"contact_at": 1}, session=session
    )
    kept = (known or {}).get("contact_at")
    if kept is not None and (kept if kept.tzinfo else kept.replace(tzinfo=UTC)) > at:
        return False
    fields = data.model_dump(mode="json", exclude={"user_id"})
    fields.update(municipality=municipality, updated=datetime.now(UTC), contact_at=at)
    await db.contacts.update_one(
        {"_id": data.user_id}, {"$set": fields}, upsert=True, session=session
    )
    return True


async def record_roles(
    db: Db,
    *,
    municipality: str,
    user_id: str,
    roles: list[str],
    session: AsyncClientSession | None,
    language: str | None = None,
) -> None:
    # Registration and contact events may arrive in either order: upsert both ways.
    fields: dict[str, Any] = {"roles": roles, "municipality": municipality}
    on_insert: dict[str, Any] = {}
    if language:
        on_insert["language"] = language
    await db.contacts.update_one(
        {"_id": user_id},
        {"$set": fields, **({"$setOnInsert": on_insert} if on_insert else {})},
        upsert=True,
        session=session,
    )


async def contacts_of(
    db: Db, user_ids: Iterable[str], session: AsyncClientSession | None = None
) -> dict[str, dict[str, Any]]:
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return {}
    return {c["_id"]: c for c in await find_by_ids(db.contacts, ids, session)}


async def staff_of(
    db: Db, municipality: str, session: AsyncClientSession | None = None
) -> list[str]:
    found = await db.contacts.find(
        {
            "municipality": municipality,
            "roles": {"$in": list(STAFF_ROLES)},
            "erasing": {"$ne": True},
        },
        projection={"_id": 1},
        session=session,
    ).to_list()
    return [c["_id"] for c in found]
