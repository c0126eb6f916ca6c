"""Helpers for tests of any service against the real broker (not used at run time)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika

from contracts import CloudEvent


def envelope(
    type_: str, data: dict[str, Any], *, municipality: str = "helsinki", **extra: Any
) -> CloudEvent:
    service = type_.split(".")[1]
    return CloudEvent(
        source=f"/kohtaamo/{municipality}/{service}",
        type=type_,
        municipality=municipality,
        data=data,
        **extra,
    )


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def drain(queue: aio_pika.abc.AbstractQueue, count: int, timeout: float = 10.0) -> list[Any]:
    """Get `count` messages from a queue (acked), as parsed JSON bodies with headers."""
    got: list[Any] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(got) < count:
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"got {len(got)} of {count} messages")
            await asyncio.sleep(0.05)
            continue
        try:
            body = json.loads(message.body)
        except ValueError:
            body = message.body
        got.append(
            {
                "body": body,
                "raw": message.body,
                "headers": dict(message.headers or {}),
                "id": message.message_id,
            }
        )
    return got
