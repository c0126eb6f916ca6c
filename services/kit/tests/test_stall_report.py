"""The watchdog's report of a stalled consumer, without a broker (fast tier): it stays up
across the restarts of a message that hangs on every delivery (the restart requeues what
was held, so for a moment nothing is held: that is no progress), and it clears when a
message is settled after it, or when nothing is held a stall period after it."""

from __future__ import annotations

import time

import pytest

from kit.app import Service
from kit.consumer import Delivery
from kit.metrics import CONSUMER_STALLED
from kit.settings import KitSettings

STALL = 0.5


@pytest.fixture
def watched() -> tuple[Service[KitSettings], str]:
    svc = Service("stalltest", settings=KitSettings(service="stalltest"))

    @svc.consumer("things", ["kohtaamo.stalltest.thing.happened.v1"])
    async def on_thing(delivery: Delivery[object]) -> None:
        """Never called: the watchdog's bookkeeping is set by hand."""

    [consumer] = [c for c in svc.consumers if c.purpose == "things"]
    svc._holding[consumer.queue] = {}
    return svc, consumer.queue


def stalled_at(svc: Service[KitSettings], queue: str, ago: float) -> None:
    """As the watchdog leaves a queue it has just restarted (`ago` seconds back): reported,
    nothing settled since, what was held requeued."""
    detected = time.monotonic() - ago
    svc._stalled[queue] = detected
    svc._progress[queue] = detected
    CONSUMER_STALLED.labels(svc.name, queue).set(1)


def reported(svc: Service[KitSettings], queue: str) -> bool:
    return queue in svc._stalled and CONSUMER_STALLED.labels(svc.name, queue)._value.get() == 1


async def test_the_report_stays_while_the_restarted_message_is_requeued(
    watched: tuple[Service[KitSettings], str],
) -> None:
    svc, queue = watched
    stalled_at(svc, queue, ago=0.1)  # nothing held: the restart requeued it
    await svc._check_progress(queue, STALL)
    assert reported(svc, queue)


async def test_a_settled_message_clears_the_report(
    watched: tuple[Service[KitSettings], str],
) -> None:
    svc, queue = watched
    stalled_at(svc, queue, ago=0.1)
    svc._progress[queue] = time.monotonic()  # as the consumer does when it settles one
    await svc._check_progress(queue, STALL)
    assert not reported(svc, queue)
    assert CONSUMER_STALLED.labels(svc.name, queue)._value.get() == 0


async def test_nothing_held_a_stall_period_after_clears_the_report(
    watched: tuple[Service[KitSettings], str],
) -> None:
    svc, queue = watched
    stalled_at(svc, queue, ago=STALL + 0.1)  # the stuck message was dead-lettered meanwhile
    await svc._check_progress(queue, STALL)
    assert not reported(svc, queue)
