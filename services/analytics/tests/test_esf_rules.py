"""ESF counting rules without infrastructure: the stream of test_esf.py through analytics'
real projection code onto the kit's memory store (kit.memory_store), counters read before
the report's suppression. The figures are those counted by hand in test_esf.py."""

from __future__ import annotations

import random
from typing import Any

from analytics_stream import KEY, esf_stream

from analytics import esf_counts, facts, projections
from kit.memory_store import MemoryDatabase

TZ = "Europe/Helsinki"


def stream_facts() -> list[dict[str, Any]]:
    return [facts.make_fact(e, e.data, KEY) for e in esf_stream()]


async def project(docs: list[dict[str, Any]]) -> MemoryDatabase:
    db = MemoryDatabase()
    for doc in docs:
        # The memory store answers the projections' calls as the store does (by _id).
        await projections.project(db, doc, None, TZ)  # type: ignore[arg-type]  # memory for Db
    return db


async def counted(db: MemoryDatabase, scope: str, period: str = "2026-Q1") -> dict[str, int]:
    """The non-zero counters (a counter added to and taken from again stays, at 0)."""
    found = await esf_counts.counts(db, scope, period)  # type: ignore[arg-type]  # memory for Db
    return {k: v for k, v in found.items() if v}


async def test_each_participant_counts_once_per_period_with_first_entry_data() -> None:
    db = await project(sorted(stream_facts(), key=lambda d: (d["at"], d["_id"])))
    helsinki = await counted(db, "helsinki")
    # u1..u12; not u13 (no profile), u14 (withdrew), u15 (attendance corrected).
    assert helsinki["participants"] == 12
    assert (helsinki["gender__woman"], helsinki["gender__man"]) == (6, 5)
    assert helsinki["gender__non_binary"] == 1
    ages = {k: v for k, v in helsinki.items() if k.startswith("age_band__") and v}
    assert ages == {
        "age_band__18_29": 5, "age_band__30_54": 5, "age_band__55_plus": 1,
        "age_band__under_18": 1,
    }  # fmt: skip
    # u1 was unemployed at the first entry (February), employed from 1 March.
    assert helsinki["employment__employed"] == 5
    assert (await counted(db, "kouvola"))["participants"] == 6
    assert (await counted(db, "network"))["participants"] == 17  # u5 once across both
    assert (await counted(db, "helsinki", "2026-Q2"))["participants"] == 2  # u6, u7


async def test_counters_do_not_depend_on_the_order_facts_arrive_in() -> None:
    docs = stream_facts()
    in_order = await project(sorted(docs, key=lambda d: (d["at"], d["_id"])))
    shuffled = docs[:]
    random.Random(7).shuffle(shuffled)
    any_order = await project(shuffled)
    for scope in ("helsinki", "kouvola", "network"):
        for period in ("2026", "2026-Q1", "2026-Q2", "2026-01", "2026-03"):
            expected = await counted(in_order, scope, period)
            assert await counted(any_order, scope, period) == expected, (scope, period)
