"""Who is an ESF participant in a period, and with which attributes.

A participant is a person (pseudonymous key) who, within the period and in the scope's
municipality, attended an event (attendance recorded as attended) or checked in to a
booking (incl. mentor office hours), and who has an ESF participant profile that is not
withdrawn. They are counted once per period, with the profile in effect at their first
entry in the period (the latest profile version at or before it; if the profile was given
only later, its first version).

`profile_at` is what the ESF counters use (esf_counts.py); `participants` computes the
same figures directly from the projections and serves as the reference they are tested
against."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from analytics.periods import Period
from analytics.projections import ENTRIES, PROFILES, Db
from analytics.scope import Scope


async def first_entries(db: Db, scope: Scope, period: Period) -> dict[str, datetime]:
    """participant -> first entry in the period (across the scope's municipalities)."""
    years = sorted({int(m[:4]) for m in period.months})
    months_by_year: dict[int, set[str]] = {}
    for m in period.months:
        months_by_year.setdefault(int(m[:4]), set()).add(m[5:])
    query = {**scope.match, "year": {"$in": years}}
    firsts: dict[str, datetime] = {}
    async for doc in db[ENTRIES].find(query, {"participant": 1, "year": 1, "months": 1}):
        for mm, sources in (doc.get("months") or {}).items():
            if mm not in months_by_year.get(doc["year"], ()) or not sources:
                continue
            first = min(sources.values())
            key = doc["participant"]
            if key not in firsts or first < firsts[key]:
                firsts[key] = first
    return firsts


def profile_at(versions: list[dict[str, Any]], moment: datetime) -> dict[str, Any] | None:
    """The profile version in effect at `moment`, ignoring everything up to the latest
    withdrawal (a withdrawn consent drops the attributes)."""
    ordered = sorted(versions, key=lambda v: (v["at"], v["fact"]))
    last_withdrawal = max((i for i, v in enumerate(ordered) if v.get("withdrawn")), default=-1)
    valid = ordered[last_withdrawal + 1 :]
    if not valid:
        return None
    before = [v for v in valid if v["at"] <= moment]
    return before[-1] if before else valid[0]


async def participants(db: Db, scope: Scope, period: Period) -> list[dict[str, Any]]:
    """The period's participants: their first entry and the profile then."""
    firsts = await first_entries(db, scope, period)
    out: list[dict[str, Any]] = []
    keys = list(firsts)
    for i in range(0, len(keys), 5000):
        batch = keys[i : i + 5000]
        async for doc in db[PROFILES].find({"_id": {"$in": batch}}):
            profile = profile_at(doc.get("versions", []), firsts[doc["_id"]])
            if profile is not None:
                out.append(
                    {"participant": doc["_id"], "first_entry": firsts[doc["_id"]], **profile}
                )
    return out
