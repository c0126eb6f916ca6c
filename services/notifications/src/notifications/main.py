"""The composition root of the notifications service."""

from __future__ import annotations

from typing import Any

from contracts import bookings as bc
from contracts import events as ec
from contracts import identity as idc
from kit.app import Service
from kit.consumer import Delivery
from kit.uow import UnitOfWork
from notifications import on_bookings, on_events, on_identity, store
from notifications.api import deliveries, inbox
from notifications.api import preferences as preferences_api
from notifications.digest import DigestLoop
from notifications.email import Mailer
from notifications.notifier import Notifier
from notifications.parts import Parts
from notifications.reminders import ReminderLoop
from notifications.sender import Sender
from notifications.settings import NotificationsSettings
from notifications.sms import SmsAdapter
from notifications.templates import Templates

BOOKINGS = [bc.BOOKING_PENDING, bc.BOOKING_CONFIRMED, bc.BOOKING_DENIED, bc.BOOKING_CANCELLED]
CLOSURES = [bc.RESOURCE_BLOCKED, bc.MENTOR_HOURS_CLOSED]
REGISTRATIONS = [
    ec.REGISTRATION_CONFIRMED,
    ec.REGISTRATION_WAITLISTED,
    ec.REGISTRATION_PROMOTED,
    ec.REGISTRATION_CANCELLED,
]
BookingData = bc.BookingFacts | bc.ResourceBlocked | bc.MentorHoursClosed
EventData = ec.RegistrationFacts | ec.EventCancelled | ec.EventChanged
IDENTITY = [
    idc.CONTACT_CHANGED,
    idc.USER_REGISTERED,
    idc.USER_ROLES_CHANGED,
    idc.USER_ERASED,
    idc.ACCOUNT_LINK_ISSUED,
]


def service(settings: NotificationsSettings | None = None) -> Service[NotificationsSettings]:
    settings = settings or NotificationsSettings()
    svc = Service(
        "notifications",
        settings=settings,
        description="Email, SMS and in-app notices, reminders and the staff digest.",
    )
    templates = Templates(fallback=settings.fallback_language)
    notifier = Notifier(svc, settings)
    mailer = Mailer(settings)
    sms = SmsAdapter(settings)

    async def settled(uow: UnitOfWork, notices: list[dict[str, Any]]) -> None:
        await on_identity.finish_erasure(notifier, uow, notices)

    sender = Sender(
        svc=svc, settings=settings, templates=templates, mailer=mailer, sms=sms, on_settled=settled
    )
    notifier.wake_sender = sender.notify
    reminder_loop = ReminderLoop(
        uow=svc.uow, poll_s=settings.reminder_poll_s, on_queued=notifier.queued
    )
    digest_loop = DigestLoop(
        uow=svc.uow,
        hour=settings.digest_hour,
        timezone=settings.timezone,
        poll_s=settings.digest_poll_s,
        on_queued=notifier.queued,
    )
    # For tests and operators: the parts, found with svc.part(Parts).
    svc.provide(
        Parts(
            sender=sender,
            reminders=reminder_loop,
            digest=digest_loop,
            templates=templates,
            notifier=notifier,
        )
    )

    svc.include_router(inbox.build_router(svc, templates))
    svc.include_router(preferences_api.build_router(svc))
    svc.include_router(deliveries.build_router(svc, sender.notify))

    # One queue per producer stream keeps each stream's order (a contact before its
    # erasure, a registration before its event's cancellation).
    @svc.consumer("identity", IDENTITY, description="Contacts, welcome, account links, erasure")
    async def identity_events(delivery: Delivery[on_identity.IdentityData]) -> None:
        await on_identity.on_identity(notifier, delivery)

    # Each handler below routes by type to one typed by its payload's model (Delivery.of).
    @svc.consumer("bookings", BOOKINGS + CLOSURES, description="Booking notices and reminders")
    async def booking_events(delivery: Delivery[BookingData]) -> None:
        if delivery.event.type == bc.RESOURCE_BLOCKED:
            await on_bookings.on_closure(notifier, delivery.of(bc.ResourceBlocked))
        elif delivery.event.type == bc.MENTOR_HOURS_CLOSED:
            await on_bookings.on_closure(notifier, delivery.of(bc.MentorHoursClosed))
        else:
            await on_bookings.on_booking(notifier, delivery.of(bc.BookingFacts))

    @svc.consumer(
        "events",
        [*REGISTRATIONS, ec.EVENT_CANCELLED, ec.EVENT_CHANGED],
        description="Registration and event notices, reminders",
    )
    async def event_events(delivery: Delivery[EventData]) -> None:
        if delivery.event.type == ec.EVENT_CANCELLED:
            await on_events.on_event_cancelled(notifier, delivery.of(ec.EventCancelled))
        elif delivery.event.type == ec.EVENT_CHANGED:
            await on_events.on_event_changed(notifier, delivery.of(ec.EventChanged))
        else:
            await on_events.on_registration(notifier, delivery.of(ec.RegistrationFacts))

    @svc.on_startup
    async def start_loops() -> None:
        await store.ensure_indexes(svc.store.db)
        sender.start()
        reminder_loop.start()
        digest_loop.start()

    @svc.on_shutdown
    async def stop_loops() -> None:
        await digest_loop.stop()
        await reminder_loop.stop()
        await sender.stop()
        await mailer.close()
        await sms.close()

    return svc
