"""The no-show sweep: confirmed bookings nobody checked in to by the end of the grace
period become no-shows (and free the rest of their time). Every replica runs the sweep;
the conditional update in `transition` lets exactly one of them change each booking."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

import structlog

from bookings.booking import transition
from contracts.bookings import BookingStatus
from kit.app import Service
from kit.uow import UnitOfWork

log = structlog.get_logger("bookings.checkin")


async def sweep_no_shows(svc: Service, *, now: datetime | None = None, limit: int = 200) -> int:
    now = now or datetime.now(UTC)
    due = await svc.store.db.bookings.find(
        {"status": BookingStatus.confirmed, "no_show_at": {"$ne": None, "$lte": now}}, limit=limit
    ).to_list()
    marked = 0
    for booking in due:

        async def mark(uow: UnitOfWork, booking: dict[str, Any] = booking) -> Any:
            session = uow.session
            return await transition(
                svc,
                session,
                booking,
                allowed_from=[BookingStatus.confirmed],
                status=BookingStatus.no_show,
                changes={"no_show_marked_at": now},
            )

        # another replica marking the same booking conflicts; the retry finds it changed
        marked += await svc.uow.run(mark) is not None
    return marked


class NoShowSweeper:
    def __init__(self, svc: Service, interval_s: float) -> None:
        self.svc = svc
        self.interval_s = interval_s
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="bookings-no-show-sweep")

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _run(self) -> None:
        while True:
            try:
                marked = await sweep_no_shows(self.svc)
                if marked:
                    log.info("no_show.marked", count=marked)
            except Exception as exc:  # store away: try again next round
                log.warning("no_show.sweep_failed", error=str(exc))
            await asyncio.sleep(self.interval_s)
