from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aio_pika
import pytest

from contracts import Payload, register


@register("kohtaamo.kittest.thing.happened.v1")
class ThingHappened(Payload):
    thing_id: str
    n: int = 0


@pytest.fixture
async def amqp(amqp_url: str) -> AsyncIterator[aio_pika.abc.AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(amqp_url)
    yield connection
    await connection.close()


@pytest.fixture
def settings(make_settings: Callable[..., Any]) -> Any:
    return make_settings("kittest")
