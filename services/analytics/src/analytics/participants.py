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
from analytics.projection_names import PEOPLE, Db
from analytics.scope import Scope


async def _people(db: Db) -> dict[str, dict[str, Any]]:
    # A scan of every person: this is the slow reference the counters are tested against.
    return {doc["_id"]: doc async for doc in db[PEOPLE].find({}, {"entries": 1, "versions": 1})}


def first_entries(
    people: dict[str, dict[str, Any]], scope: Scope, period: Period
) -> dict[str, datetime]:
    """participant -> first entry in the period (across the scope's municipalities)."""
    months_by_year: dict[int, set[str]] = {}
    for m in period.months:
        months_by_year.setdefault(int(m[:4]), set()).add(m[5:])
    wanted = scope.match.get("municipality")
    firsts: dict[str, datetime] = {}
    for key, person in people.items():
        for entry in (person.get("entries") or {}).values():
            if wanted is not None and entry["municipality"] != wanted:
                continue
            for mm, sources in (entry.get("months") or {}).items():
                if mm not in months_by_year.get(entry["year"], ()) or not sources:
                    continue
                first = min(sources.values())
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
    people = await _people(db)
    out: list[dict[str, Any]] = []
    for key, first in first_entries(people, scope, period).items():
        profile = profile_at(people[key].get("versions") or [], first)
        if profile is not None:
            out.append({"participant": key, "first_entry": first, **profile})
    return out
