"""Login attempt counters in identity's own database (the default): every replica sees the
same counts, and an erasure removes an account's counters in the erasure's transaction."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError


class StoreCounters:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.failures = db.login_failures

    async def take(
        self, key: str, *, account: str, kind: str, limit: int, window_s: int, max_window_s: int
    ) -> int | None:
        """Reserve one attempt on `key`; None when reserved, else seconds to wait."""
        for _ in range(5):  # a lost race to open a window: look again
            now = datetime.now(UTC)
            taken = await self.failures.update_one(
                {"_id": key, "window_end": {"$gt": now}, "count": {"$lt": limit}},
                {"$inc": {"count": 1}},
            )
            if taken.matched_count:
                return None
            doc = await self.failures.find_one({"_id": key})
            if doc is not None and doc["window_end"] > now:
                if doc["count"] >= limit:
                    return max(1, math.ceil((doc["window_end"] - now).total_seconds()))
                continue  # given back meanwhile
            window = window_s
            if kind == "account" and doc is not None and doc["count"] >= limit:
                # It filled up last time too: the next window is twice as long.
                window = min(doc.get("window_s", window_s) * 2, max_window_s)
            fresh = {
                "count": 1,
                "window_end": now + timedelta(seconds=window),
                "window_s": window,
                "account": account if kind != "address" else None,
            }
            if doc is None:
                try:
                    await self.failures.insert_one({"_id": key, **fresh})
                    return None
                except DuplicateKeyError:
                    continue
            opened = await self.failures.update_one(
                {"_id": key, "window_end": doc["window_end"]}, {"$set": fresh}
            )
            if opened.matched_count:
                return None
        return window_s

    async def give_back(self, key: str) -> None:
        await self.failures.update_one({"_id": key, "count": {"$gt": 0}}, {"$inc": {"count": -1}})

    async def reset(self, keys: list[str]) -> None:
        await self.failures.delete_many({"_id": {"$in": keys}})

    async def forget_account(self, account: str, session: Any = None) -> None:
        await self.failures.delete_many(
            {"$or": [{"_id": account}, {"account": account}]}, session=session
        )
