"""ESF counters: the ESF report reads one document per scope and year.

A participant's contribution to a (scope, period) — counted or not, and with which
attributes — is a pure function of their entries and profile versions (both in their
`p_people` document). Whenever either changes, the contributions before and after are
computed and only the difference is added to the counters (a document per scope and year,
by period inside), so the counters always equal the sum of contributions: independent of
the order facts arrive in, unchanged when a fact is applied twice, and rebuilt identically
by a replay. Scopes are each municipality and "network" (a participant counted once
across them); periods are every year, half, quarter and month."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from analytics import activity
from analytics.participants import profile_at
from analytics.periods import period_keys
from analytics.projection_names import ESF_COUNTS, PEOPLE, Db
from analytics.scope import NETWORK

GROUPS = ["disability", "third_country_national", "foreign_background", "minority"]

Session = AsyncClientSession | None
ScopeKey = tuple[str, str]  # (municipality or "network", period key)


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


async def add(db: Db, diffs: dict[ScopeKey, dict[str, int]], session: Session) -> None:
    """Add the differences to the counters: one document per scope and year."""
    per_doc: dict[str, dict[str, int]] = {}
    for (scope, period), diff in diffs.items():
        inc = per_doc.setdefault(f"{scope}|{period[:4]}", {})
        for f, v in diff.items():
            if v:
                inc[f"c.{period}.{f}"] = v
    for doc_id, inc in per_doc.items():
        if inc:
            await db[ESF_COUNTS].update_one(
                {"_id": doc_id}, {"$inc": inc}, upsert=True, session=session
            )


def _diff(old: dict[str, int], new: dict[str, int]) -> dict[str, int]:
    return {f: new.get(f, 0) - old.get(f, 0) for f in set(old) | set(new)}


def difference(
    before: dict[ScopeKey, dict[str, int]], after: dict[ScopeKey, dict[str, int]]
) -> dict[ScopeKey, dict[str, int]]:
    return {k: _diff(before.get(k, {}), after.get(k, {})) for k in set(before) | set(after)}


def contributions(person: dict[str, Any] | None) -> dict[ScopeKey, dict[str, int]]:
    """What a person counts for, per (scope, period): a pure function of their entries
    and profile versions."""
    firsts: dict[ScopeKey, datetime] = {}
    for entry in ((person or {}).get("entries") or {}).values():
        for mm, sources in (entry.get("months") or {}).items():
            if not sources:
                continue
            first = min(sources.values())
            for scope in (entry["municipality"], NETWORK):
                for key in period_keys(f"{entry['year']:04d}-{mm}"):
                    if (scope, key) not in firsts or first < firsts[(scope, key)]:
                        firsts[(scope, key)] = first
    versions = (person or {}).get("versions") or []
    out: dict[ScopeKey, dict[str, int]] = {}
    for scope_key, first in firsts.items():
        version = profile_at(versions, first) if versions else None
        if version is not None:
            out[scope_key] = contribution(version)
    # Staff learning is counted per person too (once per period), not per row.
    for scope_key, fields in activity.learners(activity.attendances(person_rows(person))).items():
        out[scope_key] = {**out.get(scope_key, {}), **fields}
    return out


def person_rows(person: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return dict((person or {}).get("rows") or {})


_UNREAD: Any = object()


async def change_person(
    db: Db,
    participant: str,
    update: dict[str, Any],
    session: Session,
    person: dict[str, Any] | None = _UNREAD,
) -> None:
    """Apply `update` to the person's document and the change of their contributions to
    the counters. The counters stay the sum of everyone's contributions: each change adds
    after minus before, so the order of facts does not matter and a repeat adds zero.
    `person`: the document as the caller just read it (else it is read here)."""
    people = db[PEOPLE]
    if person is _UNREAD:
        person = await read_person(db, participant, session)
    before = contributions(person)
    # The serial makes every change of a person a real write (a `$set` to the value it
    # has is a no-op), so concurrent transactions of one person conflict and one retries
    # on the other's result instead of each missing the other's entry.
    update = {**update, "$inc": {"serial": 1}}
    await people.update_one({"_id": participant}, update, upsert=True, session=session)
    after = contributions(await read_person(db, participant, session))
    await add(db, difference(before, after), session)


async def read_person(db: Db, participant: str, session: Session) -> dict[str, Any] | None:
    """A person's document, to read only: in a batch the overlay's own (no copy of a
    document that grows with the person's rows, three times per fact)."""
    people = db[PEOPLE]
    if isinstance(people, AsyncCollection):
        return await people.find_one({"_id": participant}, session=session)
    return await people.peek(participant)


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
    await add(db, per_key, session)


async def counts(db: Db, scope: str, period_key: str) -> dict[str, int]:
    doc = await db[ESF_COUNTS].find_one({"_id": f"{scope}|{period_key[:4]}"})
    return dict(((doc or {}).get("c") or {}).get(period_key) or {})
