"""AsyncAPI generated from the code: a service's consumers with the envelopes bound to
their queues, and one publisher per contract type the service produces."""

from __future__ import annotations

from typing import Any

from contracts import bookings as bk
from contracts import notifications as nt
from kit.app import Service
from kit.asyncapi import specification
from kit.consumer import Delivery


def test_specification_lists_consumers_and_published_types(settings: Any) -> None:
    svc = Service("notifications", settings=settings)

    @svc.consumer("bookings", [bk.BOOKING_CONFIRMED, bk.BOOKING_CANCELLED])
    async def on_booking(delivery: Delivery[bk.BookingFacts]) -> None:
        """Tell bookers about their bookings."""

    spec = specification(svc)
    assert spec["asyncapi"] == "3.0.0"
    channel = spec["channels"]["kohtaamo.notifications.bookings"]
    assert channel["description"] == "Tell bookers about their bookings."
    schemas = spec["components"]["schemas"]
    assert {"BookingConfirmedEvent", "BookingCancelledEvent"} <= set(schemas)
    assert schemas["BookingConfirmedEvent"]["properties"]["type"]["const"] == bk.BOOKING_CONFIRMED
    published = {
        name for name in spec["channels"] if name.startswith("kohtaamo.notifications.events:")
    }
    # every published type of the service (it may add more), each on its own exchange key
    for type_ in (nt.NOTICE_SENT, nt.NOTICE_FAILED, nt.ERASURE_COMPLETED):
        assert f"kohtaamo.notifications.events:{type_.removeprefix('kohtaamo.')}" in published
    assert not any("bookings" in name for name in published)
    # Every publish is declared as the bus sends it: persistent and mandatory.
    sends = [op for op in spec["operations"].values() if op["action"] == "send"]
    assert sends and all(op["bindings"]["amqp"]["deliveryMode"] == 2 for op in sends)
    assert all(op["bindings"]["amqp"]["mandatory"] is True for op in sends)
