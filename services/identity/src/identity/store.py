"""Identity's collections and their indexes."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase


async def ensure_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    # A user acts within one municipality; the email is unique there (erased accounts
    # keep a unique placeholder instead of an email).
    await db.users.create_index(
        [("municipality", ASCENDING), ("email", ASCENDING)], unique=True, name="user_email"
    )
    await db.mentor_offers.create_index([("municipality", ASCENDING), ("active", ASCENDING)])
    await db.organisations.create_index([("municipality", ASCENDING)])
    await db.organisations.create_index([("members.user_id", ASCENDING)])
    await db.consents.create_index([("user_id", ASCENDING)])
    await db.erasures.create_index([("receipt", ASCENDING)])
