"""Rebuild: drop every projection and replay the fact store into it.

Projections are order-independent and idempotent (see projections.py), so the result is
the same as what live consumption built, and a fact consumed while the rebuild runs is
simply applied twice. Run it with `python -m analytics.rebuild` or POST /analytics/rebuild.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from analytics import facts, projections
from analytics.projections import Db
from analytics.settings import AnalyticsSettings
from kit.mongo import Store


async def rebuild(db: Db, *, tz: str) -> dict[str, Any]:
    started = time.perf_counter()
    for name in [*projections.ALL, *projections.LEGACY]:
        await db[name].drop()
    await projections.ensure_indexes(db)
    replayed = 0
    # In id order (the index every collection has): the projections do not depend on it.
    async for fact in db[facts.COLLECTION].find({}).sort("_id", 1):
        await projections.project(db, fact, None, tz)
        replayed += 1
    return {"facts_replayed": replayed, "seconds": round(time.perf_counter() - started, 3)}


async def _main() -> None:
    settings = AnalyticsSettings()
    store = Store(settings)
    try:
        print(await rebuild(store.db, tz=settings.timezone))
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(_main())
