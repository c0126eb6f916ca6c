"""If-Match parsing and the update filter it makes (no broker, no store)."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends

from kit.conditional import Precondition, bump, etag, if_match, parse_if_match
from kit.idempotency import fingerprint
from kit.problems import Problem
from kit.settings import KitSettings
from kit.web import WebService


def test_etags_come_from_the_revision() -> None:
    assert etag({}) == '"r0"'
    assert etag({"revision": 7}) == '"r7"'
    assert etag(7, "staff") == '"r7-staff"'
    assert etag(7, b"body") == etag(7, b"body") != etag(7, b"other")
    assert bump({"$set": {"a": 1}, "$inc": {"n": 2}}) == {
        "$set": {"a": 1},
        "$inc": {"n": 2, "revision": 1},
    }


def test_if_match_becomes_the_update_filter() -> None:
    assert parse_if_match(None).filter() == {}
    assert parse_if_match("*").filter() == {}
    assert parse_if_match('"r3"').filter() == {"revision": 3}
    assert parse_if_match('"r3", "r4"').filter() == {"revision": {"$in": [3, 4]}}
    # a document from before revisions has none: r0 matches the missing field
    assert parse_if_match('"r0"').filter() == {"revision": {"$in": [0, None]}}
    both = parse_if_match('"r5-abc", W/"r6", "r4"')
    assert both.revisions == frozenset({4, 5})  # weak tags never match (strong comparison)
    assert both.holds({"revision": 4}) and not both.holds({"revision": 6})


@pytest.mark.parametrize("value", ['W/"r1"', "r1", '"1"', '"x"'])
def test_tags_that_cannot_match_are_412(value: str) -> None:
    with pytest.raises(Problem) as refused:
        parse_if_match(value)
    assert refused.value.status == 412 and refused.value.field == "If-Match"


def test_missing_if_match_is_428_only_when_required() -> None:
    assert not parse_if_match(None).given
    with pytest.raises(Problem) as refused:
        parse_if_match(None, required=True)
    assert refused.value.status == 428
    with pytest.raises(Problem) as long:
        parse_if_match(",".join(['"r1"'] * 17))
    assert long.value.status == 400


def test_request_fingerprints_compare_json_by_meaning() -> None:
    a = fingerprint("POST", "/bookings", b'{"a": 1, "b": [1, 2]}')
    assert a == fingerprint("POST", "/bookings", b'{"b":[1,2],"a":1}')
    assert a != fingerprint("POST", "/bookings", b'{"a": 1, "b": [2, 1]}')
    assert a != fingerprint("POST", "/series", b'{"a": 1, "b": [1, 2]}')
    assert fingerprint("POST", "/x", b"not json") != fingerprint("POST", "/x", b"not json!")


@pytest.mark.parametrize("required", [False, True])
async def test_the_service_settings_say_whether_if_match_is_required(required: bool) -> None:
    """`if_match` reads `require_if_match` from the serving app's own service settings."""
    web = WebService(
        "kittest", settings=KitSettings(mongo_kind="mongodb", require_if_match=required)
    )
    router = APIRouter()

    @router.patch("/things/t1")
    async def change(precondition: Annotated[Precondition, Depends(if_match)]) -> dict[str, Any]:
        return precondition.filter()

    web.include_router(router)
    transport = httpx.ASGITransport(app=web.create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        bare = await client.patch("/things/t1")
        assert bare.status_code == (428 if required else 200), bare.text
        tagged = await client.patch("/things/t1", headers={"If-Match": '"r4"'})
        assert tagged.status_code == 200 and tagged.json() == {"revision": 4}
