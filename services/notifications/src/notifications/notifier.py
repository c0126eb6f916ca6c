"""What every trigger does once it knows who is told what: store the notices in the
handler's transaction, publish notice.sent for in-app ones (delivered by being stored)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from contracts import notifications as nc
from kit.app import Service
from kit.consumer import Delivery
from kit.uow import UnitOfWork
from notifications import notices
from notifications.notices import DELIVERED, Recipient
from notifications.settings import NotificationsSettings


class Notifier:
    def __init__(self, svc: Service, settings: NotificationsSettings) -> None:
        self.svc = svc
        self.settings = settings
        self.wake_sender = lambda: None

    @property
    def db(self) -> Any:
        return self.svc.store.db

    @property
    def lead(self) -> timedelta:
        return timedelta(hours=self.settings.reminder_lead_hours)

    async def tell(
        self,
        delivery: Delivery[Any],  # any payload: its envelope and unit of work are used
        kind: str,
        recipients: list[Recipient],
        *,
        second: bool = False,
    ) -> list[dict[str, Any]]:
        """`second`: a further kind for the same cause event (e.g. the staff's approval
        request beside the booker's notice) needs its own dedupe key."""
        cause = f"{delivery.event.id}:{kind}" if second else delivery.event.id
        docs = await notices.queue(
            self.db,
            municipality=delivery.event.municipality,
            cause_event_id=cause,
            cause_type=delivery.event.type,
            kind=kind,
            recipients=recipients,
            session=delivery.session,
        )
        assert delivery.uow is not None  # consumed through the inbox
        await self.queued(delivery.uow, docs)
        return docs

    async def queued(self, uow: UnitOfWork, docs: list[dict[str, Any]]) -> None:
        """Notices queued in `uow`: those delivered at once (in-app) are announced with it
        (the relay wakes after its commit); the sender is woken for the others, also only
        after the commit (woken before, it would find nothing to send)."""
        events = [
            self.svc.event(
                nc.NOTICE_SENT,
                notices.sent_event(d),
                municipality=d["municipality"],
                subject=f"notice/{d['_id']}",
            )
            for d in docs
            if d["status"] == DELIVERED
        ]
        await uow.emit(*events)
        if len(events) < len(docs):
            uow.after_commit(self.wake_sender)
