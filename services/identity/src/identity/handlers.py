"""Consumers of other services' events: each service's answer to user.erased, so a user or
an admin can see that erasure reached every service."""

from __future__ import annotations

from contracts import analytics, bookings, events, notifications
from contracts.common import ErasureCompleted
from identity.core import Identity
from kit.app import Service
from kit.consumer import Delivery

ERASURE_ANSWERS = [
    events.ERASURE_COMPLETED,
    bookings.ERASURE_COMPLETED,
    notifications.ERASURE_COMPLETED,
    analytics.ERASURE_COMPLETED,
]


def register(svc: Service, ctx: Identity) -> None:
    @svc.consumer("erasures", ERASURE_ANSWERS)
    async def on_erasure_completed(delivery: Delivery[ErasureCompleted]) -> None:
        """Record that a service has erased a user's data."""
        data = delivery.data
        service = delivery.event.producer
        await ctx.db.erasures.update_one(
            {"_id": data.user_id},
            {
                "$set": {
                    f"services.{service}": {
                        "completed_at": delivery.event.time,
                        "records_erased": data.records_erased,
                        "event_id": delivery.event.id,
                    }
                },
                "$setOnInsert": {"municipality": delivery.event.municipality},
            },
            upsert=True,
            session=delivery.session,
        )
