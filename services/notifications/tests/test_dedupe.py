"""Never the same notice twice: the unique (cause event, recipient, channel) index, and a
notice left `sending` by a process that died is sent once after its lease ends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.errors import BulkWriteError

from notifications import notices, store
from notifications.notices import Recipient

from .conftest import add_contact, mails_for, settle


async def test_same_cause_recipient_channel_is_refused_by_the_store(started: Any) -> None:
    svc = await started()
    user = f"u-{uuid.uuid4().hex[:6]}"
    await add_contact(svc, user)
    cause = str(uuid.uuid4())

    async def queue_once() -> list[dict[str, Any]]:
        return await notices.queue(
            svc.store.db,
            municipality="helsinki",
            cause_event_id=cause,
            cause_type="test",
            kind="welcome",
            recipients=[Recipient(user), Recipient(user)],
            session=None,
        )

    first = await queue_once()
    assert sorted(d["channel"] for d in first) == ["email", "inapp"]  # the repeat is folded
    with pytest.raises(BulkWriteError) as refused:
        await queue_once()
    assert {e["code"] for e in refused.value.details["writeErrors"]} == {11000}
    assert await svc.store.db.notices.count_documents({"cause_event_id": cause}) == 2


async def test_notice_of_a_dead_sender_is_sent_once_after_its_lease(
    started: Any, mailbox: Any
) -> None:
    box, _ = mailbox
    svc = await started()
    user = f"u-{uuid.uuid4().hex[:6]}"
    address = await add_contact(svc, user, language="en")
    now = datetime.now(UTC)
    await svc.store.db.notices.insert_one(
        {
            "_id": uuid.uuid4().hex,
            "municipality": "helsinki",
            "user_id": user,
            "kind": "welcome",
            "channel": "email",
            "cause_event_id": str(uuid.uuid4()),
            "cause_type": "test",
            "context": {},
            "status": "sending",
            "claim": "a-dead-process",
            "lease_until": now - timedelta(seconds=1),
            "due": now - timedelta(minutes=5),
            "attempts": 0,
            "created": now,
            "log": [],
        }
    )
    # A restart releases expired leases before sending.
    await svc.stop()
    svc = await started(svc.settings)
    [mail] = await mails_for(box, address)
    assert mail["Subject"] == f"Welcome to Kohtaamo, Name {user}!"
    await settle(0.5)
    assert len(box.to(address)) == 1


async def test_indexes_of_earlier_versions_are_replaced_by_the_unique_one(started: Any) -> None:
    svc = await started()
    db = svc.store.db
    # As an earlier version left them: dedupe and inbox indexes of their own.
    await db.notices.create_index(
        [("cause_event_id", 1), ("user_id", 1), ("channel", 1)], unique=True
    )
    await db.notices.create_index([("user_id", 1), ("channel", 1), ("created", -1)])
    await store.ensure_indexes(db)
    names = set(await db.notices.index_information())
    assert names == {"_id_", "status_1_due_1", "user_id_1_channel_1_cause_event_id_1"}
