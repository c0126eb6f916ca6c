"""The sender loop: claims due notices a batch at a time (conditional update), delivers
them over their channel, and marks each sent or failed with a conditional update in one
transaction with the notice.sent / notice.failed events (outbox).

A notice is claimed with a lease; a process that dies mid-send leaves it `sending` until
the lease ends, then it is sent again (the only way an external send can repeat). A
graceful stop finishes the batch in flight, so a restart never sends twice."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from contracts import notifications as nc
from kit import tracing
from kit.app import Service
from kit.context import causation_id, correlation_id
from kit.uow import UnitOfWork
from notifications import calendar
from notifications.contacts import contacts_of
from notifications.email import Mailer, PermanentFailure, build_message
from notifications.metrics import NOTICES_FAILED, NOTICES_RETRIED, NOTICES_SENT
from notifications.notices import FAILED, QUEUED, SENDING, SENT, failed_event, log_entry, sent_event
from notifications.settings import NotificationsSettings
from notifications.sms import SmsAdapter
from notifications.store import find_by_ids
from notifications.templates import Templates

log = structlog.get_logger("notifications.sender")
# After a wake that found nothing (yet): up to this many looks this far apart.
WAKE_RECHECKS, WAKE_RECHECK_S = 5, 0.02
# Sent batches being settled at once: a slow transaction does not hold up the next send.
SETTLING = 2
Settled = Callable[[UnitOfWork, list[dict[str, Any]]], Awaitable[None]]
# A W3C traceparent and tracestate (either may be None).
Trace = tuple[str | None, str | None]


class Sender:
    def __init__(
        self,
        *,
        svc: Service,
        settings: NotificationsSettings,
        templates: Templates,
        mailer: Mailer,
        sms: SmsAdapter,
        on_settled: Settled | None = None,
    ) -> None:
        self.svc = svc
        self.settings = settings
        self.templates = templates
        self.mailer = mailer
        self.sms = sms
        self.on_settled = on_settled
        self._wake = asyncio.Event()
        self._soon = 0  # quick looks left after a wake
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def db(self) -> Any:
        return self.svc.store.db

    def notify(self) -> None:
        # Handlers wake the sender inside their transaction, before its commit: if the
        # pass it starts finds nothing yet, look again soon, not after a whole poll.
        self._soon = WAKE_RECHECKS
        self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="notifications-sender")

    async def stop(self) -> None:
        """Finish the batch in flight, then stop."""
        self._stopping = True
        self._wake.set()
        if self._task:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 30.0)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    async def _run(self) -> None:
        await self.release_expired()
        while not self._stopping:
            try:
                done = await self.drain()
            except Exception as exc:  # store or channel away: keep trying
                log.warning("sender.pass_failed", error=str(exc))
                done = 0
            if done or self._stopping:
                continue
            poll = self.settings.sender_poll_s
            if self._soon > 0:
                self._soon -= 1
                poll = min(poll, WAKE_RECHECK_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll)
            self._wake.clear()

    async def release_expired(self) -> int:
        """Notices whose sender died mid-send go back to the queue."""
        result = await self.db.notices.update_many(
            {"status": SENDING, "lease_until": {"$lt": datetime.now(UTC)}},
            {"$set": {"status": QUEUED}, "$unset": {"claim": ""}},
        )
        return int(result.modified_count)

    async def drain(self) -> int:
        """Send until nothing is due. Pipelined: the next batch is claimed while this one
        is sent, and sent batches are settled (up to SETTLING at once) while the next one
        is sent, so the store's work and the SMTP conversations overlap. Returns how many
        notices were handled."""
        handled = 0
        settling: list[asyncio.Task[None]] = []
        window = _Window()
        batch = await self._claim(window)
        try:
            while batch:
                following = None if self._stopping else asyncio.create_task(self._claim(window))
                results = await self._send(batch)
                for task in [t for t in settling if t.done()]:
                    settling.remove(task)
                    task.result()  # a failed settle ends the pass, as before
                if len(settling) >= SETTLING:
                    await settling.pop(0)
                settling.append(
                    asyncio.create_task(
                        self._settle(batch.claim, batch.notices, results, batch.traces)
                    )
                )
                handled += len(batch.notices)
                batch = await following if following else None
        finally:
            # Every batch sent is settled before the pass ends (a graceful stop waits).
            for outcome in await asyncio.gather(*settling, return_exceptions=True):
                if isinstance(outcome, BaseException):
                    raise outcome
        return handled

    async def _claim(self, window: _Window) -> _Batch | None:
        """Claim the next batch of `window`, reading due notices into it when it is empty.
        The store reads every matching notice whatever the limit, so one read of up to
        `sender_window` feeds several batches; each batch is claimed just before it is
        sent, so its lease starts then. Its contacts are read here too, so that sending,
        which overlaps the next claim, never waits for the store."""
        while True:
            if not window.due:
                window.found_at = datetime.now(UTC)
                window.due = await self.db.notices.find(
                    {"status": QUEUED, "due": {"$lte": window.found_at}},
                    sort=[("due", 1)],
                    limit=max(self.settings.sender_window, self.settings.sender_batch),
                ).to_list()
                if not window.due:
                    return None
            size = self.settings.sender_batch
            chunk, window.due = window.due[:size], window.due[size:]
            claimed = await self._claim_chunk(chunk, window.found_at)
            if claimed:
                return claimed

    async def _claim_chunk(self, chunk: list[dict[str, Any]], found_at: datetime) -> _Batch | None:
        ids = [d["_id"] for d in chunk]
        claim = uuid.uuid4().hex
        lease_until = datetime.now(UTC) + timedelta(seconds=self.settings.sender_lease_s)
        result = await self.db.notices.update_many(
            # `due` no later than the read: a notice queued again since (a retry, an
            # operator's retry) is not taken with the copy read before.
            {"_id": {"$in": ids}, "status": QUEUED, "due": {"$lte": found_at}},
            {"$set": {"status": SENDING, "claim": claim, "lease_until": lease_until}},
        )
        if result.modified_count == len(ids):
            claimed = chunk  # all ours: no competing sender took any of them
        else:
            claimed = await find_by_ids(self.db.notices, ids, claim=claim)
        if not claimed:
            return None
        return _Batch(claim, claimed, await contacts_of(self.db, [n["user_id"] for n in claimed]))

    async def _send(self, batch: _Batch) -> list[Any]:
        return await asyncio.gather(
            *(self._deliver_traced(n, batch) for n in batch.notices),
            return_exceptions=True,
        )

    async def _deliver_traced(self, notice: dict[str, Any], batch: _Batch) -> None:
        """Deliver in a span continuing the trace the notice was queued in (tracing on);
        its notice.sent / notice.failed event continues that span (`batch.traces`), or,
        tracing off here, the stored context itself, so the chain holds downstream."""
        contact = batch.contacts.get(notice["user_id"])
        stored = notice.get("traceparent"), notice.get("tracestate")
        if not tracing.enabled:
            batch.traces[notice["_id"]] = stored
            await self._deliver(notice, contact)
            return
        attributes: dict[str, Any] = {
            "kohtaamo.notice.channel": notice["channel"],
            "kohtaamo.notice.kind": notice["kind"],
            "kohtaamo.notice.attempt": notice.get("attempts", 0) + 1,
        }
        if notice.get("correlation_id"):
            attributes["kohtaamo.correlation_id"] = notice["correlation_id"]
        due = notice.get("due")
        if isinstance(due, datetime):
            # How long it waited for the sender (quiet hours, retries, a busy queue).
            waited = datetime.now(UTC) - (due if due.tzinfo else due.replace(tzinfo=UTC))
            attributes["kohtaamo.notice.wait_s"] = max(0.0, waited.total_seconds())
        span = tracing.child_span(
            f"send {notice['channel']}",
            traceparent=stored[0],
            tracestate=stored[1],
            kind=tracing.SpanKind.CLIENT,
            attributes=attributes,
        )
        context = tracing.format_context(span.get_span_context())
        batch.traces[notice["_id"]] = context if context[0] else stored
        try:
            with tracing.activated(span):
                await self._deliver(notice, contact)
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(tracing.error_status(exc))
            span.set_attribute("kohtaamo.outcome", "failed")
            raise
        else:
            span.set_attribute("kohtaamo.outcome", "sent")
        finally:
            span.end()

    async def _deliver(self, notice: dict[str, Any], contact: dict[str, Any] | None) -> None:
        if contact is None or "display_name" not in contact:
            # Registration can come before identity's contact.changed: wait for it.
            raise LookupError("no contact details for the recipient yet")
        s = self.settings
        rendered = self.templates.render_for(
            notice["kind"],
            {**calendar.for_template(notice["kind"], notice["context"]), "app_url": s.app_url},
            name=contact.get("display_name") or "",
            language=contact.get("language"),
            timezone=contact.get("timezone") or s.timezone,
        )
        if notice["channel"] == "email":
            if not contact.get("email"):
                raise PermanentFailure("no email address")
            ics = calendar.attachments_for(
                notice["kind"],
                notice["context"],
                language=rendered.language,
                fallback=s.fallback_language,
            )
            message = build_message(
                sender=s.mail_from,
                to=contact["email"],
                rendered=rendered,
                notice_id=notice["_id"],
                ics=ics,
            )
            await self.mailer.send(message)
        elif notice["channel"] == "sms":
            if not contact.get("phone"):
                raise PermanentFailure("no phone number")
            await self.sms.send(to=contact["phone"], text=rendered.short, reference=notice["_id"])
        else:
            raise PermanentFailure(f"unknown channel {notice['channel']}")

    async def _settle(
        self,
        claim: str,
        claimed: list[dict[str, Any]],
        results: list[Any],
        traces: dict[str, Trace],
    ) -> None:
        delays = self.settings.notice_retry_delays_s
        now = datetime.now(UTC)
        sent = [n for n, r in zip(claimed, results, strict=True) if r is None]
        failures = [(n, r) for n, r in zip(claimed, results, strict=True) if r is not None]
        settled: list[dict[str, Any]] = list(sent)

        async def work(uow: UnitOfWork) -> None:
            session = uow.session
            settled[:] = list(sent)
            events = [
                self._event(nc.NOTICE_SENT, n, sent_event(n), traces.get(n["_id"])) for n in sent
            ]
            for notice, error in failures:
                reason = _reason(error)
                attempts = notice.get("attempts", 0) + 1
                final = isinstance(error, PermanentFailure) or attempts > len(delays)
                update: dict[str, Any] = {
                    "$set": {"attempts": attempts, "last_error": reason},
                    "$unset": {"claim": "", "lease_until": ""},
                }
                if final:
                    update["$set"]["status"] = FAILED
                    update["$push"] = {"log": log_entry(FAILED, reason, attempt=attempts)}
                    events.append(
                        self._event(
                            nc.NOTICE_FAILED,
                            notice,
                            failed_event(notice, reason),
                            traces.get(notice["_id"]),
                        )
                    )
                    settled.append(notice)
                else:
                    retry_at = now + timedelta(seconds=delays[attempts - 1])
                    update["$set"].update(status=QUEUED, due=retry_at)
                    update["$push"] = {
                        "log": log_entry("retrying", reason, attempt=attempts, retry_at=retry_at)
                    }
                await self.db.notices.update_one(
                    {"_id": notice["_id"], "claim": claim, "status": SENDING},
                    update,
                    session=session,
                )
            if sent:
                # The failed ones left the claim above: what is still `sending` under it
                # is exactly what was sent (no `$in` list of ids).
                await self.db.notices.update_many(
                    {"claim": claim, "status": SENDING},
                    {
                        "$set": {"status": SENT, "sent_at": now},
                        "$unset": {"claim": "", "lease_until": ""},
                        "$inc": {"attempts": 1},
                        "$push": {"log": log_entry(SENT)},
                    },
                    session=session,
                )
            await uow.emit(*events)
            if self.on_settled and settled:
                await self.on_settled(uow, settled)

        await self.svc.uow.run(work)
        for notice in sent:
            NOTICES_SENT.labels(notice["channel"]).inc()
        final = {id(n) for n in settled}
        for notice, error in failures:
            failed = NOTICES_FAILED if id(notice) in final else NOTICES_RETRIED
            failed.labels(notice["channel"]).inc()
            log.warning(
                "notice.delivery_failed",
                notice_id=notice["_id"],
                channel=notice["channel"],
                error=_reason(error),
            )

    def _event(self, type_: str, notice: dict[str, Any], data: Any, trace: Trace | None) -> Any:
        correlation_id.set(notice.get("correlation_id"))
        causation_id.set(notice["cause_event_id"])
        event = self.svc.event(
            type_, data, municipality=notice["municipality"], subject=f"notice/{notice['_id']}"
        )
        if trace and trace[0]:
            # The notice's own trace: the settling transaction serves many notices.
            event = event.model_copy(update={"traceparent": trace[0], "tracestate": trace[1]})
        return event


@dataclass
class _Window:
    """Due notices read at once and not claimed yet, and when they were read."""

    due: list[dict[str, Any]] = field(default_factory=list)
    found_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class _Batch:
    """Claimed notices, their claim id, and their recipients' contacts."""

    claim: str
    notices: list[dict[str, Any]]
    contacts: dict[str, dict[str, Any]]
    # Per notice id: the span context its notice.sent / notice.failed continues.
    traces: dict[str, Trace] = field(default_factory=dict)


def _reason(error: BaseException) -> str:
    text = (
        f"{type(error).__name__}: {error}"
        if not isinstance(error, PermanentFailure)
        else str(error)
    )
    return text[:500]
