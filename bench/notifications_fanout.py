"""Notifications fan-out benchmark (issue 6 target: fan-out >= 0.5 of raw SMTP):

- baseline: raw SMTP send rate, aiosmtplib over the same number of open connections as
  the service uses, sending already-built messages to a local aiosmtpd server;
- fan-out: an event.cancelled with N registrants published on RabbitMQ, through the
  service's consumer (notices stored in one transaction) and its sender loop, until the
  N-th mail is received by the same kind of SMTP server. Also: time to store the notices.

Run: `uv run python bench/notifications_fanout.py [N]`.
Writes bench/results/notifications_fanout.json.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).parent))

from common import environment, write

from contracts import events as ec
from kit import localstore
from kit.testing import envelope
from notifications.email import build_message
from notifications.main import service
from notifications.settings import NotificationsSettings
from notifications.templates import Templates

N = int(sys.argv[1]) if len(sys.argv) > 1 else 500
CONNECTIONS = 4


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.last = 0.0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, env: Any) -> str:
        with self._lock:
            self.count += 1
            self.last = time.perf_counter()
        return "250 OK"


def smtp_server() -> tuple[Controller, Counter, int]:
    counter = Counter()
    port = localstore.free_port()
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, counter, port


async def raw_smtp(n: int) -> float:
    """Messages/s of plain aiosmtplib sends over CONNECTIONS open connections."""
    controller, counter, port = smtp_server()
    templates = Templates()
    context = {
        "name": "Person",
        "title": {"fi": "Iso tapahtuma"},
        "starts_at": datetime.now(UTC).isoformat(),
        "reason": None,
    }
    rendered = templates.render(
        "event_cancelled", context, language="fi", timezone="Europe/Helsinki"
    )
    clients = []
    for _ in range(CONNECTIONS):
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
        await client.connect()
        clients.append(client)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker(client: aiosmtplib.SMTP) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            message = build_message(
                sender="bench@kohtaamo.fi",
                to=f"p{i}@example.org",
                rendered=rendered,
                notice_id=str(i),
            )
            await client.send_message(message)

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in clients))
    elapsed = time.perf_counter() - started
    for client in clients:
        await client.quit()
    controller.stop()
    assert counter.count == n
    return n / elapsed


async def fanout(env: dict[str, str], n: int) -> dict[str, float]:
    controller, counter, port = smtp_server()
    settings = NotificationsSettings(
        amqp_url=env["amqp_url"],
        mongo_url=env["mongo_url"],
        mongo_db=f"bench_notifications_{uuid.uuid4().hex[:6]}",
        smtp_port=port,
        smtp_connections=CONNECTIONS,
        sender_poll_s=0.05,
        log_level="WARNING",
        log_format="json",
        digest_poll_s=3600.0,
    )
    svc = service(settings)
    svc.create_app()
    await svc.start()
    event_id = "bench-event"
    users = [f"u{i}" for i in range(n)]
    now = datetime.now(UTC)
    await svc.store.db.contacts.insert_many(
        [
            {
                "_id": u,
                "municipality": "helsinki",
                "display_name": f"Person {i}",
                "email": f"{u}@example.org",
                "language": ("fi", "sv", "en")[i % 3],
                "channels": {"*": ["email", "inapp"]},
                "timezone": "Europe/Helsinki",
            }
            for i, u in enumerate(users)
        ]
    )
    await svc.store.db.registrations.insert_many(
        [{"_id": f"r{u}", "event_id": event_id, "user_id": u, "status": "confirmed"} for u in users]
    )
    # Something must consume notifications' events for the outbox to route them.
    channel = await svc.bus.broker._connection.channel()  # type: ignore[union-attr]  # connected once started
    sink = await channel.declare_queue("bench-sink", auto_delete=True)
    await sink.bind("kohtaamo.notifications.events", routing_key="#")
    event = envelope(
        ec.EVENT_CANCELLED,
        {
            "event_id": event_id,
            "title": {"fi": "Iso tapahtuma"},
            "starts_at": (now + timedelta(days=2)).isoformat(),
        },
    )
    started = time.perf_counter()
    await svc.bus.publish_event(event)
    stored_at = None
    while counter.count < n:
        # The notices appear together at the handler's commit. Looked up by the unique
        # index, not counted: counting read every notice each time, about 0.2 s of the
        # store's time while the handler was storing them.
        if stored_at is None and await svc.store.db.notices.find_one(
            {"user_id": users[0], "channel": "email", "cause_event_id": event.id},
            projection={"_id": 1},
        ):
            stored_at = time.perf_counter()
        await asyncio.sleep(0.02)
    elapsed = counter.last - started
    await svc.stop()
    controller.stop()
    return {
        "notices_per_s": n / elapsed,
        "seconds": elapsed,
        "stored_after_s": (stored_at or counter.last) - started,
    }


async def main() -> None:
    with environment() as env:
        raw = await raw_smtp(N)
        fan = await fanout(env, N)
        raw_after = await raw_smtp(N)  # the machine is shared: bracket the measurement
    baseline = (raw + raw_after) / 2
    write(
        "notifications_fanout",
        {
            "registrants": N,
            "smtp_connections": CONNECTIONS,
            "raw_smtp_per_s": round(baseline, 1),
            "raw_smtp_runs_per_s": [round(raw, 1), round(raw_after, 1)],
            "fanout_notices_per_s": round(fan["notices_per_s"], 1),
            "fanout_seconds": round(fan["seconds"], 2),
            "notices_stored_after_s": round(fan["stored_after_s"], 2),
            "ratio": round(fan["notices_per_s"] / baseline, 3),
            "target_ratio": 0.5,
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
