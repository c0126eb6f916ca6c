"""Consumers of identity's events: erasure and role changes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from contracts import events as ev
from contracts import identity as idc
from events import registration, store
from events.settings import EventsSettings
from events.status import EventStatus
from kit.app import Service
from kit.conditional import REVISION, bump
from kit.consumer import Delivery


def register(svc: Service[EventsSettings]) -> None:
    db = svc.store.db

    @svc.consumer("identity-erasure", [idc.USER_ERASED])
    async def on_user_erased(delivery: Delivery[idc.UserErased]) -> None:
        """Cancel the user's sign-ups for events still to come, anonymise their
        registrations and authored events; tell identity."""
        data = delivery.data
        assert delivery.uow is not None  # consumed through the inbox
        session = delivery.session
        await svc.outbox.forget(session, data.user_id)  # events nobody could receive
        # One random stand-in per erasure: the registrations stay countable (seats,
        # attendance statistics) but lead to nobody.
        stand_in = f"erased-{uuid.uuid4().hex[:12]}"
        # Seats of events still to come are given back (to the waiting list); the
        # cancellation is published under the stand-in, never the erased id.
        now = datetime.now(UTC)
        active = (
            await db[store.REGISTRATIONS]
            .find(
                {"user_id": data.user_id, "status": {"$in": registration.ACTIVE}}, session=session
            )
            .to_list(None)
        )
        for reg in active:
            event = await db[store.EVENTS].find_one({"_id": reg["event_id"]}, session=session)
            if (
                event is None
                or event["status"] != EventStatus.PUBLISHED
                or event["starts_at"] <= now
            ):
                continue
            # Without the group name either: it often names the person.
            anonymous = {**reg, "user_id": stand_in, "name": None, "group_name": None}
            await registration.cancel_in(svc, session, anonymous, by="user", reason="erased")
        regs = await db[store.REGISTRATIONS].update_many(
            {"user_id": data.user_id},
            {
                "$set": {
                    "user_id": stand_in,
                    "name": None,
                    "group_name": None,
                    "code": None,
                    "checkin_pass": None,
                    "feedback.comment": None,
                    "anonymised": True,
                },
                "$inc": {REVISION: 1},
            },
            session=session,
        )
        authored = await db[store.EVENTS].update_many(
            {"created_by": data.user_id},
            bump({"$set": {"created_by": stand_in}}),
            session=session,
        )
        await db[store.ROLES].delete_one({"_id": data.user_id}, session=session)
        done = ev.EventsErasureCompleted(
            user_id=data.user_id, records_erased=regs.modified_count + authored.modified_count
        )
        await delivery.uow.emit(
            svc.event(
                ev.ERASURE_COMPLETED,
                done,
                municipality=delivery.event.municipality,
                subject=f"user/{data.user_id}",
            ),
        )

    @svc.consumer("identity-roles", [idc.USER_ROLES_CHANGED])
    async def on_roles_changed(delivery: Delivery[idc.UserRolesChanged]) -> None:
        """Remember the user's current roles: a token issued before a role was taken
        away no longer grants it here."""
        data = delivery.data
        # Never later than its arrival: a sender's clock ahead cannot outrank later changes.
        at = delivery.time
        known = await db[store.ROLES].find_one({"_id": data.user_id}, session=delivery.session)
        if known is not None and known["changed_at"].replace(tzinfo=at.tzinfo) >= at:
            return  # an older change arriving late
        await db[store.ROLES].replace_one(
            {"_id": data.user_id},
            {"_id": data.user_id, "roles": data.roles, "changed_at": at},
            upsert=True,
            session=delivery.session,
        )
