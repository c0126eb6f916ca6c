"""Staff block a resource (maintenance): overlapping bookings are cancelled and their
people told (booking.cancelled with cancelled_by=resource_blocked), or, with
`on_conflict=flag`, kept and flagged for staff to resolve (booking.flagged tells the
people), or, with `on_conflict=refuse`, the block is refused while bookings overlap."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field

from bookings.booking import transition
from bookings.calendar import claim, release
from bookings.errors import Conflict, Invalid, NotFound
from bookings.facts import booking_facts
from bookings.status import BlockStatus
from bookings.store import HOLDING
from contracts import bookings as ev
from contracts.bookings import BookingStatus
from kit.app import Service
from kit.auth import Principal
from kit.conditional import bump
from kit.dates import Moment
from kit.requests import Strict
from kit.uow import UnitOfWork


class BlockIn(Strict):
    starts_at: Moment
    ends_at: Moment
    reason: str | None = Field(None, max_length=500)
    on_conflict: Literal["cancel", "flag", "refuse"] = "cancel"


async def block_resource(
    svc: Service, *, resource: dict[str, Any], data: BlockIn, principal: Principal
) -> dict[str, Any]:
    if data.starts_at.tzinfo is None or data.ends_at.tzinfo is None:
        raise Invalid("block", "times need a time zone", field="starts_at")
    start, end = data.starts_at.astimezone(UTC), data.ends_at.astimezone(UTC)
    if end <= start:
        raise Invalid("block", "ends_at must be after starts_at", field="ends_at")
    now = datetime.now(UTC)
    block = {
        "_id": f"blk-{uuid.uuid4().hex}",
        "kind": "block",
        "status": BlockStatus.BLOCKED,
        "municipality": resource["municipality"],
        "resource_id": resource["_id"],
        "location_id": resource["location_id"],
        "user_id": None,
        "booked_by": principal.subject,
        "starts_at": start,
        "ends_at": end,
        "held_from": start,
        "held_until": end,
        "reason": data.reason,
        "created_at": now,
        "updated_at": now,
    }

    async def work(uow: UnitOfWork) -> dict[str, Any]:
        session = uow.session
        await claim(svc.store, session, resource["_id"])
        overlapping = await svc.store.db.bookings.find(
            {
                "resource_id": resource["_id"],
                "status": {"$in": HOLDING},
                "held_from": {"$lt": end},
                "held_until": {"$gt": start},
            },
            session=session,
        ).to_list()
        if any(b["kind"] == "block" for b in overlapping):
            raise Conflict("Already blocked for part of that time.", field="starts_at")
        if overlapping and data.on_conflict == "refuse":
            raise Conflict(
                f"{len(overlapping)} bookings overlap the block.",
                field="starts_at",
                booking_ids=[b["_id"] for b in overlapping],
            )
        cancelled: list[str] = []
        flagged: list[str] = []
        for booking in overlapping if data.on_conflict == "flag" else []:
            await svc.store.db.bookings.update_one(
                {"_id": booking["_id"]},
                bump({"$set": {"flagged": {"block_id": block["_id"], "reason": data.reason}}}),
                session=session,
            )
            payload = ev.BookingFlagged(
                **booking_facts(booking), block_id=block["_id"], reason=data.reason
            )
            await uow.emit(
                svc.event(
                    ev.BOOKING_FLAGGED,
                    payload,
                    municipality=booking["municipality"],
                    subject=f"booking/{booking['_id']}",
                ),
            )
            flagged.append(booking["_id"])
        for booking in overlapping if data.on_conflict == "cancel" else []:
            done = await transition(
                svc,
                session,
                booking,
                allowed_from=HOLDING,
                status=BookingStatus.cancelled,
                changes={
                    "cancelled_by": "resource_blocked",
                    "reason": data.reason,
                    "cancelled_at": now,
                },
            )
            if done:
                cancelled.append(booking["_id"])
        block["cancelled_booking_ids"] = cancelled
        block["flagged_booking_ids"] = flagged
        await svc.store.db.bookings.insert_one(block, session=session)
        blocked = ev.ResourceBlocked(
            resource_id=resource["_id"],
            resource_name=resource["name"],
            starts_at=start,
            ends_at=end,
            reason=data.reason,
            cancelled_booking_ids=cancelled,
            block_id=block["_id"],
            location_id=resource["location_id"],
            flagged_booking_ids=flagged,
        )
        await uow.emit(
            svc.event(
                ev.RESOURCE_BLOCKED,
                blocked,
                municipality=resource["municipality"],
                subject=f"resource/{resource['_id']}",
            ),
        )
        return block

    result = await svc.uow.run(work)
    return result


async def lift_block(svc: Service, *, block_id: str, principal: Principal) -> None:
    # Refused inside the transaction, so that it commits nothing (its audit entry either).
    async def work(uow: UnitOfWork) -> None:
        session = uow.session
        block = await svc.store.db.bookings.find_one({"_id": block_id}, session=session)
        if block is None:
            raise NotFound(f"No active block {block_id}.", field="block_id")
        result = await svc.store.db.bookings.update_one(
            {
                "_id": block_id,
                "kind": "block",
                "status": BlockStatus.BLOCKED,
                "municipality": principal.municipality,
            },
            bump({"$set": {"status": BlockStatus.LIFTED, "updated_at": datetime.now(UTC)}}),
            session=session,
        )
        if result.modified_count != 1:
            raise NotFound(f"No active block {block_id}.", field="block_id")
        await release(svc.store, session, block["resource_id"])

    await svc.uow.run(work)


def block_out(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": doc["_id"],
        "resource_id": doc["resource_id"],
        "status": doc["status"],
        "starts_at": doc["starts_at"].isoformat(),
        "ends_at": doc["ends_at"].isoformat(),
        "reason": doc.get("reason"),
        "cancelled_booking_ids": doc.get("cancelled_booking_ids", []),
        "flagged_booking_ids": doc.get("flagged_booking_ids", []),
    }
