"""The desk's number of lanes (booking batches written side by side) comes from settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from bookings.desk import desk_for
from bookings.main import service
from bookings.settings import BookingsSettings


@pytest.mark.parametrize("lanes", [1, 2, 5])
def test_lanes_from_settings(make_settings: Callable[..., Any], lanes: int) -> None:
    svc = service(make_settings("bookings", cls=BookingsSettings, booking_lanes=lanes))
    assert desk_for(svc).lanes == lanes


def test_default_is_two_lanes(make_settings: Callable[..., Any]) -> None:
    svc = service(make_settings("bookings", cls=BookingsSettings))
    assert desk_for(svc).lanes == 2


def test_zero_lanes_refused(make_settings: Callable[..., Any]) -> None:
    with pytest.raises(ValidationError, match="booking_lanes"):
        make_settings("bookings", cls=BookingsSettings, booking_lanes=0)
