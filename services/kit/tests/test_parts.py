"""A service's parts: provided by its factory, found by their class (no infrastructure)."""

from __future__ import annotations

import pytest

from kit.app import Service
from kit.settings import KitSettings


class Desk:
    pass


class Cache(dict[str, int]):
    pass


def test_parts_are_found_by_their_class_per_service() -> None:
    one = Service("parts", settings=KitSettings(mongo_kind="mongodb"))
    two = Service("parts", settings=KitSettings(mongo_kind="mongodb"))
    desk = one.provide(Desk())
    cache = one.provide(Cache())
    other = two.provide(Desk())
    assert one.part(Desk) is desk and one.part(Cache) is cache
    assert two.part(Desk) is other and other is not desk  # each service its own
    with pytest.raises(LookupError, match="no Cache"):
        two.part(Cache)
