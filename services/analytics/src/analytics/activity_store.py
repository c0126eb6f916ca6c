"""Writing activity rows (see activity.py): into the person's document, or a document of
their own when there is no person, with the change of the counters in the same
transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from analytics import activity, esf_counts
from analytics.periods import month_of
from analytics.projection_names import ACTIVITY_COUNTS, ATTENDANCE, BOOKINGS, Db

Session = AsyncClientSession | None

# Where rows without a person live, one document each.
COLLECTION = {activity.ATTENDED: ATTENDANCE, activity.BOOKING: BOOKINGS}


async def add_counts(db: Db, counts: activity.Counts, session: Session) -> None:
    for key, fields in counts.items():
        inc = {path: n for path, n in fields.items() if n}
        if inc:
            municipality, month = key.rsplit("|", 1)
            await db[ACTIVITY_COUNTS].update_one(
                {"_id": key},
                {"$inc": inc, "$setOnInsert": {"municipality": municipality, "month": month}},
                upsert=True,
                session=session,
            )


def _entry(
    municipality: str, source: str, when: datetime, present: bool, tz: str
) -> dict[str, Any]:
    """The update of a person's entries: per municipality and year, per month the
    activities that make them a participant (attendance, check-in; `source` is the row's
    name); the first entry is the earliest (see esf_counts.contributions)."""
    month = month_of(when, tz)
    year, mm = month.split("-")
    entry = f"entries.{activity.field(municipality)}|{year}"
    path = f"{entry}.months.{mm}.{source}"
    if not present:
        return {"$unset": {path: ""}}
    return {"$set": {path: when, f"{entry}.municipality": municipality, f"{entry}.year": int(year)}}


async def put_row(
    db: Db,
    participant: str,
    kind: str,
    key: str,
    row: dict[str, Any],
    present: bool,
    session: Session,
    tz: str,
) -> None:
    """A person's row (latest version wins), the entry it makes (`present`: it makes them
    a participant), and the counters' change."""
    name = activity.row_name(kind, key)
    person = await esf_counts.read_person(db, participant, session)
    # The row as it was: replaced, never changed in place, by the update below.
    old = esf_counts.person_rows(person).get(name)
    if old is not None and not activity.newer(row["_v"], old.get("_v")):
        return
    update = _entry(row["municipality"], name, row["starts_at"], present, tz)
    update["$set"] = {**update.get("$set", {}), f"rows.{name}": row}
    await esf_counts.change_person(db, participant, update, session, person)
    await add_counts(db, activity.change(kind, old, row, tz), session)


async def put_anonymous(
    db: Db,
    kind: str,
    key: str,
    row: dict[str, Any],
    session: Session,
    tz: str,
    replaces: dict[str, Any] | None = None,
) -> None:
    """A row without a person: its own document (latest version wins) and the counters'
    change; it counts as a staff learner of its own. `replaces`: the same row of a person
    (erased), counted until now; the row moves, so its counters usually stay as they are."""
    collection = db[COLLECTION[kind]]
    stored = await collection.find_one({"_id": key}, session=session)
    old = {k: v for k, v in stored.items() if k != "_id"} if stored is not None else None
    moved = activity.change(kind, replaces, None, tz)
    if old is not None and not activity.newer(row["_v"], old.get("_v")):
        await add_counts(db, moved, session)
        return
    await collection.update_one({"_id": key}, {"$set": row}, upsert=True, session=session)
    await add_counts(db, activity.combine(moved, activity.change(kind, old, row, tz)), session)
    if kind == activity.ATTENDED:
        learners = esf_counts.difference(
            activity.learners([old] if old else []), activity.learners([row])
        )
        await esf_counts.add(db, learners, session)


async def read_counts(db: Db, scope_match: dict[str, Any], months: list[str]) -> dict[str, Any]:
    """The counters of a scope's months, summed (a nested dict like the documents')."""
    total: dict[str, Any] = {}
    query = {**scope_match, "month": {"$in": months}}
    async for doc in db[ACTIVITY_COUNTS].find(query, {"municipality": 0, "month": 0}):
        doc.pop("_id", None)
        _merge(total, doc)
    return total


def _merge(into: dict[str, Any], doc: dict[str, Any]) -> None:
    for k, v in doc.items():
        if isinstance(v, dict):
            _merge(into.setdefault(k, {}), v)
        else:
            into[k] = into.get(k, 0) + v
