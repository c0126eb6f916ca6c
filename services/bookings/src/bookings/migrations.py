"""Start-up migrations of the service's documents: each idempotent and safe when several
replicas start at once (they run at every start and find nothing left to do)."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.bookings import BookingStatus
from kit import passes
from kit.mongo import Store


async def backfill_passes(store: Store) -> int:
    """Check-in passes for bookings made before passes existed that can still be checked
    in (waiting for approval or confirmed, not ended); past ones never need one."""
    return await passes.backfill(
        store.db.bookings,
        passes.BOOKING,
        {
            "kind": "booking",
            "status": {"$in": [BookingStatus.pending, BookingStatus.confirmed]},
            "ends_at": {"$gt": datetime.now(UTC)},
        },
    )
