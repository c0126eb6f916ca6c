"""304 on If-None-Match for every answer with an ETag (kit.not_modified, in every kit app):
the same version named (strong, weak, among others, or `*`) gets no body and keeps the
headers a 304 must; another version, another method or a refusal is answered as before.
No infrastructure: an HTTP-only app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Response

from kit import conditional
from kit.problems import Problem
from kit.settings import KitSettings
from kit.web import WebService

NOTE = {"_id": "n1", "revision": 4, "text": "hei"}


@pytest.fixture(scope="module")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    web = WebService("kittest", settings=KitSettings(mongo_kind="mongodb"))
    router = APIRouter()
    calls: list[str] = []

    @router.get("/notes/{note_id}")
    async def read(note_id: str, response: Response) -> dict[str, Any]:
        calls.append(note_id)
        if note_id != NOTE["_id"]:
            raise Problem(404, "Not found", "No such note.", field="note_id")
        conditional.tag(response, NOTE)
        response.headers["Cache-Control"] = "private, no-cache"
        return {"text": NOTE["text"]}

    @router.post("/notes/{note_id}")
    async def touch(note_id: str, response: Response) -> dict[str, Any]:
        conditional.tag(response, NOTE)
        return {"text": NOTE["text"]}

    web.include_router(router)
    transport = httpx.ASGITransport(app=web.create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client_:
        yield client_


@pytest.mark.parametrize("named", ['"r4"', 'W/"r4"', '"r3", "r4"', "*", ' "r9" ,W/"r4" '])
async def test_the_current_version_named_is_304_without_a_body(
    client: httpx.AsyncClient, named: str
) -> None:
    answer = await client.get("/notes/n1", headers={"If-None-Match": named})
    assert answer.status_code == 304 and answer.content == b""
    assert answer.headers["etag"] == '"r4"'
    assert answer.headers["cache-control"] == "private, no-cache"
    assert "Authorization" in answer.headers["vary"]
    assert answer.headers["x-correlation-id"]  # the platform's headers are kept
    assert "content-type" not in answer.headers
    assert answer.headers.get("content-length", "0") == "0"


async def test_another_version_a_write_or_a_refusal_is_answered_in_full(
    client: httpx.AsyncClient,
) -> None:
    old = await client.get("/notes/n1", headers={"If-None-Match": '"r3"'})
    assert old.status_code == 200 and old.json() == {"text": "hei"}
    assert (await client.get("/notes/n1")).status_code == 200
    posted = await client.post("/notes/n1", headers={"If-None-Match": '"r4"'})
    assert posted.status_code == 200 and posted.json() == {"text": "hei"}
    missing = await client.get("/notes/n2", headers={"If-None-Match": "*"})
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "note_id"
    huge = ", ".join(f'"r{n}"' for n in range(2000))  # past the bound: answered in full
    assert (await client.get("/notes/n1", headers={"If-None-Match": huge})).status_code == 200
