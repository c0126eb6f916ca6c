"""Fan-out: an event with 500 registrants is cancelled; exactly 500 emails arrive, none
twice, although the service is stopped and started again while the consumer stores the
notices and again halfway through the sending."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts import events as ec
from kit.testing import envelope, eventually, publish_as_producer

from .conftest import publish, settle

REGISTRANTS = 500


async def seed_registrants(svc: Any, event_id: str, count: int) -> list[str]:
    """The contact directory and registrant list as the identity and registration
    handlers leave them, written in two batches (500 events each through the broker would
    only make this test slow; those handlers have their own tests)."""
    now = datetime.now(UTC)
    users = [f"fan-{uuid.uuid4().hex[:10]}" for _ in range(count)]
    languages = ("fi", "sv", "en")
    await svc.store.db.contacts.insert_many(
        [
            {
                "_id": u,
                "municipality": "helsinki",
                "display_name": f"Person {i}",
                "email": f"{u}@example.org",
                "phone": None,
                "language": languages[i % 3],
                "channels": {"*": ["email", "inapp"]},
                "quiet_hours": None,
                "timezone": "Europe/Helsinki",
                "updated": now,
            }
            for i, u in enumerate(users)
        ]
    )
    await svc.store.db.registrations.insert_many(
        [
            {
                "_id": f"reg-{u}",
                "municipality": "helsinki",
                "event_id": event_id,
                "user_id": u,
                "status": "confirmed",
                "cancelled_by": None,
                "updated": now,
            }
            for u in users
        ]
    )
    return users


# 1000 notices and 500 SMTP conversations on a shared two-core machine and an embedded
# store: more than the suite's default per-test time limit.
@pytest.mark.timeout(300)
async def test_500_registrants_500_emails_none_twice_across_a_restart(
    started: Any, mailbox: Any, notif_settings: Any
) -> None:
    box, _ = mailbox
    settings = notif_settings()
    svc = await started(settings)
    event_id = f"e-{uuid.uuid4().hex[:6]}"
    users = await seed_registrants(svc, event_id, REGISTRANTS)
    starts = datetime.now(UTC) + timedelta(days=3)
    cause = await publish(
        svc,
        ec.EVENT_CANCELLED,
        {
            "event_id": event_id,
            "title": {"fi": "Iso tapahtuma", "sv": "Stort evenemang", "en": "Big event"},
            "starts_at": starts.isoformat(),
        },
    )

    # First restart while the consumer is storing the 1000 notices (one transaction):
    # either it finishes before the stop or it is rolled back and redelivered.
    await settle(0.5)
    await svc.stop()
    svc = await started(settings)

    async def some_sent() -> bool:
        return len(box.messages) >= 100

    await eventually(some_sent, timeout=60)
    # Second restart halfway through the sending: the batch in flight is finished and
    # marked, then the sender stops; the new one carries on from the queued notices.
    await svc.stop()
    stopped_at = len(box.messages)
    assert stopped_at < REGISTRANTS

    svc = await started(settings)

    async def all_sent() -> bool:
        return len(box.messages) >= REGISTRANTS

    await eventually(all_sent, timeout=90)
    await settle(1.0)
    recipients = Counter(m["To"] for m in box.messages)
    assert len(box.messages) == REGISTRANTS
    assert set(recipients) == {f"{u}@example.org" for u in users}
    assert max(recipients.values()) == 1
    subjects = {m["Subject"] for m in box.messages}
    assert subjects == {
        "Tapahtuma peruttu: Iso tapahtuma",
        "Evenemanget inställt: Stort evenemang",
        "Event cancelled: Big event",
    }
    db = svc.store.db

    async def all_marked() -> bool:
        # The last batch is marked sent just after its mails are out.
        query = {"cause_event_id": cause, "channel": "email", "status": "sent"}
        return await db.notices.count_documents(query) == REGISTRANTS

    await eventually(all_marked, timeout=30)
    assert (
        await db.notices.count_documents({"cause_event_id": cause, "channel": "inapp"})
        == REGISTRANTS
    )

    # The same event delivered again (a publisher retry) tells nobody a second time.
    await publish_as_producer(
        svc.settings,
        envelope(
            ec.EVENT_CANCELLED,
            {
                "event_id": event_id,
                "title": {"fi": "Iso tapahtuma"},
                "starts_at": starts.isoformat(),
            },
            id=cause,
        ),
    )
    await settle(2.0)
    assert len(box.messages) == REGISTRANTS
    assert await db.notices.count_documents({"cause_event_id": cause}) == 2 * REGISTRANTS
