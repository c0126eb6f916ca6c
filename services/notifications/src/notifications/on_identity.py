"""The contact directory and the identity-caused notices: welcome, account links (email
verification, password reset) and erasure.

Erasure order: the confirmation email is queued with the contact still known and the
contact marked `erasing`; everything else of the user goes at once. When the confirmation
has been sent (or has finally failed) the sender calls `finish_erasure`, which removes the
contact, anonymises the last notice and publishes notifications.erasure.completed."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from contracts import identity as idc
from contracts import notifications as nc
from kit.consumer import Delivery
from kit.uow import UnitOfWork
from notifications import contacts
from notifications.notices import Recipient
from notifications.notifier import Notifier

ERASED = "erased"


IdentityData = (
    idc.ContactChanged
    | idc.UserRegistered
    | idc.UserRolesChanged
    | idc.UserErased
    | idc.AccountLinkIssued
)


async def on_identity(n: Notifier, delivery: Delivery[IdentityData]) -> None:
    data = delivery.data
    m = delivery.event.municipality
    if isinstance(data, idc.ContactChanged):
        # Messages may arrive out of order: a contact of an erased user is not brought back.
        if await n.db.erased.count_documents({"_id": data.user_id}, session=delivery.session):
            return
        await contacts.record_contact(
            n.db, municipality=m, data=data, at=delivery.time, session=delivery.session
        )
    elif isinstance(data, idc.UserRegistered):
        await contacts.record_roles(
            n.db,
            municipality=m,
            user_id=data.user_id,
            roles=data.roles,
            language=data.preferred_language,
            session=delivery.session,
        )
        await n.tell(delivery, "welcome", [Recipient(data.user_id)])
    elif isinstance(data, idc.AccountLinkIssued):
        # Mailed whatever the preferences say (preferences.MANDATORY): the link is the
        # point. It goes to the address known now, which identity's link is bound to.
        context = {"token": data.token, "expires_at": data.expires_at.isoformat()}
        await n.tell(delivery, data.purpose.value, [Recipient(data.user_id, context)])
    elif isinstance(data, idc.UserRolesChanged):
        await contacts.record_roles(
            n.db, municipality=m, user_id=data.user_id, roles=data.roles, session=delivery.session
        )
    else:
        await erase(n, delivery, data.user_id)


async def _anonymise(n: Notifier, query: dict[str, Any], session: AsyncClientSession | None) -> int:
    # The delivery log stays for operators and statistics, without who or what.
    result = await n.db.notices.update_many(
        query,
        {"$set": {"user_id": ERASED, "context": {}, "last_error": None}},
        session=session,
    )
    return int(result.modified_count)


async def erase(n: Notifier, delivery: Delivery[IdentityData], user_id: str) -> None:
    assert delivery.uow is not None  # consumed through the inbox
    session = delivery.session
    db = n.db
    count = await n.svc.outbox.forget(session, user_id)  # events nobody could receive
    # A tombstone of the bare id (no personal data) keeps a late contact.changed out.
    await db.erased.update_one(
        {"_id": user_id},
        {"$setOnInsert": {"at": delivery.event.time}},
        upsert=True,
        session=session,
    )
    count += (
        await db.notices.delete_many(
            {
                "user_id": user_id,
                "$or": [{"channel": "inapp"}, {"status": {"$in": ["queued", "sending"]}}],
            },
            session=session,
        )
    ).deleted_count
    count += await _anonymise(n, {"user_id": user_id}, session)
    for name in ("preferences",):
        count += (await db[name].delete_many({"_id": user_id}, session=session)).deleted_count
    for name in ("bookings", "registrations", "reminders"):
        count += (await db[name].delete_many({"user_id": user_id}, session=session)).deleted_count
    contact = await db.contacts.find_one({"_id": user_id}, session=session)
    if contact and contact.get("email"):
        await db.contacts.update_one(
            {"_id": user_id},
            {"$set": {"erasing": True, "erased_records": count + 1}},
            session=session,
        )
        await n.tell(delivery, "erasure_confirmed", [Recipient(user_id)])
        return
    if contact:
        await db.contacts.delete_one({"_id": user_id}, session=session)
        count += 1
    await _completed(n, delivery.uow, delivery.event.municipality, user_id, count)


async def finish_erasure(n: Notifier, uow: UnitOfWork, settled: list[dict[str, Any]]) -> None:
    """Sender hook: the erasure confirmations in `settled` are done; erase the rest."""
    session = uow.session
    for notice in settled:
        if notice["kind"] != "erasure_confirmed":
            continue
        user_id = notice["user_id"]
        contact = await n.db.contacts.find_one_and_delete({"_id": user_id}, session=session)
        await _anonymise(n, {"user_id": user_id}, session)
        records = (contact or {}).get("erased_records", 1)
        await _completed(n, uow, notice["municipality"], user_id, records)


async def _completed(
    n: Notifier, uow: UnitOfWork, municipality: str, user_id: str, count: int
) -> None:
    event = n.svc.event(
        nc.ERASURE_COMPLETED,
        nc.NotificationsErasureCompleted(user_id=user_id, records_erased=count),
        municipality=municipality,
        subject=f"user/{user_id}",
    )
    await uow.emit(event)
