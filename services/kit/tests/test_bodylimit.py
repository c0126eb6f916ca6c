"""Every service's own HTTP port refuses a body over `max_body_bytes` with 413
problem+json (partner sites may expose services without the gateway in front)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel

from kit.app import Service
from kit.settings import KitSettings


class Note(BaseModel):
    text: str


def app_with(**settings: Any) -> Any:
    service = Service("notes", settings=KitSettings(service="notes", **settings))
    router = APIRouter()
    received: list[int] = []

    @router.post("/notes")
    async def post(note: Note) -> dict[str, int]:
        received.append(len(note.text))
        return {"length": len(note.text)}

    service.include_router(router)
    app = service.create_app()
    app.state.received = received
    return app


@pytest.fixture(scope="module")
def app() -> Any:
    return app_with()  # the default limit, 1 MiB


@pytest.fixture(scope="module")
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://notes.test"
    ) as client_:
        yield client_


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "https://kohtaamo.fi/problems/body-too-large"
    assert body["errors"][0]["field"] == "body" and "1048576" in body["detail"]


async def test_a_10_mb_body_is_refused_before_the_handler(
    client: httpx.AsyncClient, app: Any
) -> None:
    big = b'{"text": "' + b"x" * 10_000_000 + b'"}'
    assert_refused(await client.post("/notes", content=big))
    assert app.state.received == []
    ok = await client.post("/notes", json={"text": "x" * 1000})
    assert ok.status_code == 200 and ok.json() == {"length": 1000}


async def test_a_chunked_body_without_length_is_counted(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        for _ in range(20):
            yield b"y" * 100_000
        yield b'"}'

    assert_refused(await client.post("/notes", content=chunks()))
    lying = await client.post("/notes", content=b'{"text": "z"}', headers={"Content-Length": "-1"})
    assert lying.status_code in (400, 413)


async def test_the_limit_is_a_setting() -> None:
    app = app_with(max_body_bytes=100)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://notes.test"
    ) as small:
        refused = await small.post("/notes", json={"text": "x" * 200})
        assert refused.status_code == 413 and "100 bytes" in refused.json()["detail"]
        assert (await small.post("/notes", json={"text": "x" * 50})).status_code == 200
