"""ESF counters: the ESF report reads one document per scope and period.

A participant's contribution to a (scope, period) — counted or not, and with which
attributes — is a pure function of their entries and profile versions. Whenever either
changes, the contribution is recomputed and only the difference is added to the counters,
so the counters always equal the sum of contributions: independent of the order facts
arrive in, unchanged when a fact is applied twice, and rebuilt identically by a replay.
Scopes are each municipality and "network" (a participant counted once across them);
periods are every year, half, quarter and month."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from analytics.participants import profile_at
from analytics.projections import ESF_COUNTS, PEOPLE, Db
from analytics.scope import NETWORK

COUNTS = ESF_COUNTS
GROUPS = ["disability", "third_country_national", "foreign_background", "minority"]

Session = AsyncClientSession | None
ScopeKey = tuple[str, str]  # (municipality or "network", period key)


def period_keys(month: str) -> list[str]:
    """The periods a month belongs to: "2026-02" -> 2026, 2026-H1, 2026-Q1, 2026-02."""
    year, mm = month.split("-")
    m = int(mm)
    return [year, f"{year}-H{1 if m <= 6 else 2}", f"{year}-Q{(m - 1) // 3 + 1}", month]


def contribution(profile: dict[str, Any]) -> dict[str, int]:
    fields = {
        "participants": 1,
        f"gender__{profile['gender']}": 1,
        f"age_band__{profile['age_band']}": 1,
        f"employment__{profile['employment']}": 1,
        f"education__{profile['education']}": 1,
    }
    for group in GROUPS:
        if profile.get(group) is True:
            fields[f"groups__{group}"] = 1
    return fields


async def add(db: Db, key: ScopeKey, diff: dict[str, int], session: Session) -> None:
    diff = {f: v for f, v in diff.items() if v}
    if diff:
        await db[COUNTS].update_one(
            {"_id": f"{key[0]}|{key[1]}"},
            {"$inc": {f"c.{f}": v for f, v in diff.items()}},
            upsert=True,
            session=session,
        )


def _diff(old: dict[str, int], new: dict[str, int]) -> dict[str, int]:
    return {f: new.get(f, 0) - old.get(f, 0) for f in set(old) | set(new)}


async def refresh_participant(db: Db, participant: str, session: Session) -> None:
    """Recompute the participant's contributions and apply the differences."""
    # Every refresh of one participant writes their document first, so two concurrent
    # refreshes of the same person conflict and one retries on the other's result.
    # Always a real write (a `$set` to the value it has is a no-op): concurrent
    # transactions of one person must conflict, or each misses the other's entry.
    await db[PEOPLE].update_one(
        {"_id": participant}, {"$inc": {"serial": 1}}, upsert=True, session=session
    )
    person = await db[PEOPLE].find_one({"_id": participant}, session=session) or {}
    firsts: dict[ScopeKey, datetime] = {}
    for entry in (person.get("entries") or {}).values():
        for mm, sources in (entry.get("months") or {}).items():
            if not sources:
                continue
            first = min(sources.values())
            for scope in (entry["municipality"], NETWORK):
                for key in period_keys(f"{entry['year']:04d}-{mm}"):
                    if (scope, key) not in firsts or first < firsts[(scope, key)]:
                        firsts[(scope, key)] = first
    versions = person.get("versions") or []
    new: dict[ScopeKey, dict[str, int]] = {}
    for scope_key, first in firsts.items():
        version = profile_at(versions, first) if versions else None
        if version is not None:
            new[scope_key] = contribution(version)
    old = {(c["scope"], c["key"]): c["fields"] for c in (person.get("esf") or {}).values()}
    changes: dict[str, dict[str, Any]] = {}
    for scope_key in set(old) | set(new):
        before, after = old.get(scope_key, {}), new.get(scope_key, {})
        if before == after:
            continue
        await add(db, scope_key, _diff(before, after), session)
        path = f"esf.{_safe(scope_key[0])}|{scope_key[1]}"
        if after:
            value = {"scope": scope_key[0], "key": scope_key[1], "fields": after}
            changes.setdefault("$set", {})[path] = value
        else:
            changes.setdefault("$unset", {})[path] = ""
    if changes:
        await db[PEOPLE].update_one({"_id": participant}, changes, session=session)


def _safe(key: str) -> str:
    # Scopes become field names: no dots or dollars.
    return key.replace(".", "_").replace("$", "_")


async def recount_entity(
    db: Db,
    municipality: str,
    old: tuple[str, dict[str, int]] | None,
    new: tuple[str, dict[str, int]] | None,
    session: Session,
) -> None:
    """Move an entity's counts (a visit count, an organisation) from its old (month,
    fields) to its new ones, in its municipality and the network."""
    per_key: dict[ScopeKey, dict[str, int]] = {}
    for sign, item in ((-1, old), (1, new)):
        if item is None:
            continue
        month, fields = item
        for scope in (municipality, NETWORK):
            for key in period_keys(month):
                bucket = per_key.setdefault((scope, key), {})
                for f, v in fields.items():
                    bucket[f] = bucket.get(f, 0) + sign * v
    for scope_key, diff in per_key.items():
        await add(db, scope_key, diff, session)


async def counts(db: Db, scope: str, period_key: str) -> dict[str, int]:
    doc = await db[COUNTS].find_one({"_id": f"{scope}|{period_key}"})
    return dict((doc or {}).get("c") or {})
