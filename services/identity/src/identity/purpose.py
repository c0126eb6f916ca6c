"""What a consent is for, and whether a person gave it (read by the ESF profile too)."""

from __future__ import annotations

from enum import StrEnum

from pymongo.asynchronous.client_session import AsyncClientSession

from identity.core import Identity


class Purpose(StrEnum):
    terms = "terms"
    marketing = "marketing"
    # Pseudonymous ESF participant statistics, and its sensitive groups (disability,
    # minority, foreign background) which need their own, explicit consent.
    esf_statistics = "esf_statistics"
    esf_sensitive = "esf_sensitive"


async def granted(
    ctx: Identity, user_id: str, purpose: str, session: AsyncClientSession | None = None
) -> bool:
    doc = await ctx.db.consents.find_one({"_id": f"{user_id}:{purpose}"}, session=session)
    return bool(doc and doc["granted"])
