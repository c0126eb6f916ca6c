"""Reminders are durable (a restart loses none), cancelled with their booking, and the
staff get a morning digest of pending approvals."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts import bookings as bc
from contracts import identity as idc
from kit.testing import eventually
from notifications.parts import Parts

from .conftest import add_contact, mails_for, publish, settle, text_of
from .test_booking_notices import booking


async def test_reminder_survives_restart_and_not_for_cancelled_booking(
    started: Any, mailbox: Any, notif_settings: Any
) -> None:
    box, _ = mailbox
    # Lead time so the reminders fall due a few seconds after they are scheduled.
    starts = datetime.now(UTC) + timedelta(hours=24, seconds=6)
    settings = notif_settings(reminder_lead_hours=24.0)
    svc = await started(settings)
    kept_user, cancelled_user = (f"u-{uuid.uuid4().hex[:6]}" for _ in range(2))
    kept_mail = await add_contact(svc, kept_user, language="en")
    cancelled_mail = await add_contact(svc, cancelled_user, language="en")
    kept = booking(
        kept_user, starts_at=starts.isoformat(), ends_at=(starts + timedelta(hours=1)).isoformat()
    )
    dropped = booking(
        cancelled_user,
        starts_at=starts.isoformat(),
        ends_at=(starts + timedelta(hours=1)).isoformat(),
    )
    await publish(svc, bc.BOOKING_CONFIRMED, kept)
    await publish(svc, bc.BOOKING_CONFIRMED, dropped)
    await mails_for(box, kept_mail)
    await mails_for(box, cancelled_mail)
    await publish(svc, bc.BOOKING_CANCELLED, dropped)
    await mails_for(box, cancelled_mail, 2)

    # Restart: a new service object on the same database and queues.
    await svc.stop()
    svc = await started(settings)
    reminders = {r["_id"]: r["status"] for r in await svc.store.db.reminders.find().to_list()}
    assert reminders == {
        f"booking:{kept['booking_id']}": "scheduled",
        f"booking:{dropped['booking_id']}": "cancelled",
    }

    mails = await mails_for(box, kept_mail, 2, timeout=20)
    assert mails[1]["Subject"].startswith("Reminder: Media studio")
    assert "a reminder of your booking" in text_of(mails[1])
    await settle(1.0)
    assert len(box.to(cancelled_mail)) == 2  # confirmation and cancellation, no reminder
    assert len(box.to(kept_mail)) == 2
    status = await svc.store.db.reminders.find_one({"_id": f"booking:{kept['booking_id']}"})
    assert status is not None and status["status"] == "sent"


async def test_morning_digest_once_a_day_to_staff(started: Any, mailbox: Any) -> None:
    svc = await started()
    box, _ = mailbox
    clerk, booker = f"staff-{uuid.uuid4().hex[:6]}", f"u-{uuid.uuid4().hex[:6]}"
    clerk_mail = await add_contact(svc, clerk, language="fi")
    await add_contact(svc, booker, channels={"*": ["inapp"]})
    await publish(svc, idc.USER_ROLES_CHANGED, {"user_id": clerk, "roles": ["staff"]})

    async def is_staff() -> bool:
        return await svc.store.db.contacts.count_documents({"_id": clerk, "roles": "staff"}) == 1

    await eventually(is_staff)
    first, second = booking(booker), booking(booker)
    for data in (first, second):
        await publish(svc, bc.BOOKING_PENDING, data)

    async def pending() -> bool:
        return await svc.store.db.approvals.count_documents({}) == 2

    await eventually(pending)
    await mails_for(box, clerk_mail, 2)  # an approval request per booking
    await publish(svc, bc.BOOKING_CONFIRMED, second)

    async def one_left() -> bool:
        return await svc.store.db.approvals.count_documents({}) == 1

    await eventually(one_left)
    digest = svc.part(Parts).digest
    early = datetime(2030, 1, 7, 4, 0, tzinfo=UTC)  # 06:00 in Helsinki: not yet
    assert await digest.send(early) == 0
    morning = datetime(2030, 1, 7, 7, 0, tzinfo=UTC)  # 09:00 in Helsinki
    assert await digest.send(morning) == 1
    assert await digest.send(morning + timedelta(hours=3)) == 0  # once a day
    mails = await mails_for(box, clerk_mail, 3)
    assert mails[2]["Subject"] == "Hyväksyntää odottaa 1 varausta"
    assert "Mediamaja-studio, 4.3.2030 klo 12.00" in text_of(mails[2])
    assert await digest.send(morning + timedelta(days=1)) == 1
