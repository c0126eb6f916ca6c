"""Booking triggers end to end: event on the real broker -> notice -> mail on a real SMTP
server, checked in Finnish, Swedish and English."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts import bookings as bc
from contracts import identity as idc
from kit.testing import eventually

from .conftest import (
    add_contact,
    calendar_of,
    entry_of,
    html_of,
    mails_for,
    publish,
    settle,
    text_of,
)


def booking(user_id: str, **extra: Any) -> dict[str, Any]:
    starts = datetime(2030, 3, 4, 10, 0, tzinfo=UTC)
    return {
        "booking_id": f"b-{uuid.uuid4().hex[:8]}",
        "resource_id": "r1",
        "resource_kind": "studio",
        "resource_name": {"fi": "Mediamaja-studio", "sv": "Mediastudio", "en": "Media studio"},
        "location_id": "oodi",
        "location_name": {"fi": "Oodi", "sv": "Ode", "en": "Oodi Central Library"},
        "user_id": user_id,
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
        **extra,
    }


CONFIRMED = {
    "fi": (
        "Varaus vahvistettu: Mediamaja-studio",
        "4.3.2030 klo 12.00\u201314.00",
        "Ovikoodi: 4711",
    ),
    "sv": ("Bokningen bekräftad: Mediastudio", "4.3.2030 kl. 12:00\u201314:00", "Dörrkod: 4711"),
    "en": (
        "Booking confirmed: Media studio",
        "4 Mar 2030 at 12:00\u201314:00",
        "Access code: 4711",
    ),
}


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
async def test_booking_confirmed_mail_in_each_language_with_calendar(
    started: Any, mailbox: Any, language: str
) -> None:
    svc = await started()
    box, _ = mailbox
    user = f"u-{uuid.uuid4().hex[:6]}"
    address = await add_contact(svc, user, language=language)
    data = booking(user, access_code="4711")
    await publish(svc, bc.BOOKING_CONFIRMED, data)

    [mail] = await mails_for(box, address)
    subject, when, code = CONFIRMED[language]
    assert mail["Subject"] == subject
    assert mail["Content-Language"] == language
    assert when in text_of(mail) and code in text_of(mail)
    assert f"Name {user}" in html_of(mail)
    ics = calendar_of(mail)
    assert ics is not None
    assert f"UID:{data['booking_id']}@kohtaamo.fi" in ics
    assert "DTSTART:20300304T100000Z" in ics


async def test_pending_tells_booker_and_staff_and_denial_follows(
    started: Any, mailbox: Any
) -> None:
    svc = await started()
    box, _ = mailbox
    booker, clerk, other = (f"{p}-{uuid.uuid4().hex[:6]}" for p in ("u", "staff", "kv"))
    booker_mail = await add_contact(svc, booker, language="en")
    clerk_mail = await add_contact(svc, clerk, language="sv")
    kouvola_mail = await add_contact(svc, other, municipality="kouvola")
    await publish(svc, idc.USER_ROLES_CHANGED, {"user_id": clerk, "roles": ["staff"]})
    await publish(
        svc, idc.USER_ROLES_CHANGED, {"user_id": other, "roles": ["staff"]}, municipality="kouvola"
    )

    async def roles_known() -> bool:
        return await svc.store.db.contacts.count_documents({"roles": "staff"}) >= 2

    await eventually(roles_known)
    data = booking(booker)
    await publish(svc, bc.BOOKING_PENDING, data)

    [mine] = await mails_for(box, booker_mail)
    assert mine["Subject"] == "Booking request awaiting approval: Media studio"
    [staff_mail] = await mails_for(box, clerk_mail)
    assert staff_mail["Subject"] == "Bokning att godkänna: Mediastudio"
    assert data["booking_id"] in text_of(staff_mail)
    assert box.to(kouvola_mail) == []  # staff of another municipality are not told

    await publish(svc, bc.BOOKING_DENIED, {**data, "reason": "Huolto"})
    mails = await mails_for(box, booker_mail, 2)
    assert mails[1]["Subject"] == "Booking not approved: Media studio"
    assert "Reason: Huolto" in text_of(mails[1])
    assert await svc.store.db.approvals.count_documents({"_id": data["booking_id"]}) == 0


async def test_cancelled_and_resource_blocked_tell_the_owner_once(
    started: Any, mailbox: Any
) -> None:
    svc = await started()
    box, _ = mailbox
    user = f"u-{uuid.uuid4().hex[:6]}"
    address = await add_contact(svc, user, language="fi")
    first, second = booking(user), booking(user)
    await publish(svc, bc.BOOKING_CONFIRMED, first)
    await publish(svc, bc.BOOKING_CONFIRMED, second)
    await mails_for(box, address, 2)

    await publish(svc, bc.BOOKING_CANCELLED, {**first, "reason": "Sairastuin"})
    mails = await mails_for(box, address, 3)
    assert mails[2]["Subject"] == "Varaus peruttu: Mediamaja-studio"
    assert "Syy: Sairastuin" in text_of(mails[2])
    # The cancellation takes the confirmed entry out of the calendar: the same UID, a
    # CANCEL request, a higher SEQUENCE (parsed with icalendar, as a calendar would).
    confirmed = next(m for m in mails[:2] if first["booking_id"] in (calendar_of(m) or ""))
    method, _, booked = entry_of(confirmed)
    assert method == "PUBLISH"
    method, cal, gone = entry_of(mails[2])
    assert method == "CANCEL" and cal["METHOD"] == "CANCEL" and gone["STATUS"] == "CANCELLED"
    assert gone["UID"] == booked["UID"] == f"{first['booking_id']}@kohtaamo.fi"
    assert int(gone["SEQUENCE"]) > int(booked["SEQUENCE"])

    # The block cancels the second booking: one notice of the block, not a second one
    # for the booking's own cancellation.
    await publish(svc, bc.BOOKING_CANCELLED, {**second, "cancelled_by": "resource_blocked"})
    await publish(
        svc,
        bc.RESOURCE_BLOCKED,
        {
            "resource_id": "r1",
            "resource_name": second["resource_name"],
            "starts_at": second["starts_at"],
            "ends_at": second["ends_at"],
            "reason": "Vesivahinko",
            "cancelled_booking_ids": [second["booking_id"]],
        },
    )
    mails = await mails_for(box, address, 4)
    assert mails[3]["Subject"] == "Varaus peruttu, tila suljettu: Mediamaja-studio"
    assert "Vesivahinko" in text_of(mails[3])
    # the block's notice takes the booking out of the calendar
    confirmed = next(m for m in mails[:2] if second["booking_id"] in (calendar_of(m) or ""))
    _, _, booked = entry_of(confirmed)
    method, cal, gone = entry_of(mails[3])
    assert method == "CANCEL" and cal["METHOD"] == "CANCEL" and gone["STATUS"] == "CANCELLED"
    assert gone["UID"] == booked["UID"] == f"{second['booking_id']}@kohtaamo.fi"
    assert int(gone["SEQUENCE"]) > int(booked["SEQUENCE"])
    reminders = await svc.store.db.reminders.find({"user_id": user}).to_list()
    assert {r["status"] for r in reminders} == {"cancelled"}


async def test_mentor_hours_closed_tells_each_booker_once(started: Any, mailbox: Any) -> None:
    svc = await started()
    box, _ = mailbox
    user = f"u-{uuid.uuid4().hex[:6]}"
    address = await add_contact(svc, user, language="sv")
    first = booking(user, resource_kind="mentor_hours", mentor_user_id="m1")
    second = booking(user, resource_kind="mentor_hours", mentor_user_id="m1")
    for data in (first, second):
        await publish(svc, bc.BOOKING_CONFIRMED, data)
    await mails_for(box, address, 2)
    closed = {"resource_id": "r1", "mentor_user_id": "m1"}
    # Closing the hours cancels each booking (cancelled_by=staff) beside its own event;
    # the two may arrive in either order. Whichever comes first tells, the other is quiet.
    for data in (first, second):
        await publish(
            svc, bc.MENTOR_HOURS_CLOSED, {**closed, "cancelled_booking_ids": [data["booking_id"]]}
        )
        await publish(svc, bc.BOOKING_CANCELLED, {**data, "cancelled_by": "staff"})

    async def all_handled() -> bool:
        return await svc.store.db.inbox.count_documents({}) >= 7  # contact + 6

    await eventually(all_handled)
    mails = await mails_for(box, address, 4)
    await settle(1.0)
    assert len(box.to(address)) == 4
    told = {"Mentorns mottagning inställd", "Bokningen avbokad: Mediastudio"}
    assert {mails[2]["Subject"], mails[3]["Subject"]} <= told
    for mail in mails[2:]:
        if mail["Subject"] == "Mentorns mottagning inställd":
            assert "- Mediastudio 4.3.2030 kl. 12:00" in text_of(mail)
    # whichever notice told, each booking got exactly one METHOD:CANCEL of its UID
    cancels = []
    for mail in mails[2:]:
        method, cal, gone = entry_of(mail)
        assert method == "CANCEL" == cal["METHOD"] and gone["STATUS"] == "CANCELLED"
        cancels.append(str(gone["UID"]))
    assert sorted(cancels) == sorted(f"{d['booking_id']}@kohtaamo.fi" for d in (first, second))
    assert await svc.store.db.bookings.count_documents({"cancel_told": True}) == 2
