"""Strict request bodies (kit.requests) through the kit's problem handlers: unknown fields
named with a "did you mean", strings and lists bounded, a model without a bound refused at
class creation, and a body that is not JSON reported as such."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import Field

from kit.problems import install_problem_handlers
from kit.requests import NAME_MAX, STR_MAX, LocalizedName, Strict


class Price(Strict):
    amount: float = 0
    currency: str = Field(default="EUR", max_length=3)


class Thing(Strict):
    title: LocalizedName = Field(min_length=1)
    capacity: int | None = None
    note: str = ""
    tags: list[str] = Field(default_factory=list, max_length=5)
    price: Price | None = None
    prices: list[Price] = Field(default_factory=list, max_length=3)


def app() -> FastAPI:
    made = FastAPI()
    install_problem_handlers(made)

    @made.post("/things")
    async def create(thing: Thing) -> dict[str, Any]:
        return thing.model_dump()

    return made


async def post(body: Any = None, *, content: bytes | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://kit.test") as client:
        if content is not None:
            headers = {"content-type": "application/json"}
            return await client.post("/things", content=content, headers=headers)
        return await client.post("/things", json=body)


def errors(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    found: list[dict[str, Any]] = response.json()["errors"]
    return found


TITLE = {"fi": "Paja"}


async def test_a_valid_body_passes() -> None:
    ok = await post({"title": TITLE, "capacity": 5, "prices": [{"amount": 2}]})
    assert ok.status_code == 200 and ok.json()["capacity"] == 5


async def test_unknown_fields_are_named_with_a_near_miss() -> None:
    [error] = errors(await post({"title": TITLE, "capcity": 5}))
    assert error["field"] == "capcity" and error["type"] == "extra_forbidden"
    assert error["did_you_mean"] == "capacity" and "did you mean 'capacity'" in error["message"]
    # Inside a nested model and a list of them: the nested model's own fields.
    [nested] = errors(await post({"title": TITLE, "price": {"amout": 1}}))
    assert nested["field"] == "price.amout" and nested["did_you_mean"] == "amount"
    [listed] = errors(await post({"title": TITLE, "prices": [{}, {"curency": "SEK"}]}))
    assert listed["field"] == "prices.1.curency" and listed["did_you_mean"] == "currency"
    # Far from anything: named, no guess.
    [far] = errors(await post({"title": TITLE, "is_admin": True}))
    assert far["field"] == "is_admin" and "did_you_mean" not in far


async def test_strings_lists_and_languages_are_bounded() -> None:
    [title] = errors(await post({"title": {"fi": "x" * (NAME_MAX + 1)}}))
    assert title["field"] == "title.fi" and title["type"] == "string_too_long"
    assert (await post({"title": {"fi": "x" * NAME_MAX}})).status_code == 200
    [note] = errors(await post({"title": TITLE, "note": "x" * (STR_MAX + 1)}))
    assert note["field"] == "note" and note["type"] == "string_too_long"
    [tags] = errors(await post({"title": TITLE, "tags": ["a"] * 6}))
    assert tags["field"] == "tags" and tags["type"] == "too_long"
    many = {f"l{chr(97 + i)}": "x" for i in range(11)}
    [languages] = errors(await post({"title": many}))
    assert languages["field"] == "title" and languages["type"] == "too_long"


def test_the_bounds_are_in_the_schema() -> None:
    schema = app().openapi()["components"]["schemas"]
    thing = schema["Thing"]
    assert thing["additionalProperties"] is False
    props = thing["properties"]
    assert props["note"]["maxLength"] == STR_MAX and props["tags"]["maxItems"] == 5
    assert props["tags"]["items"]["maxLength"] == STR_MAX
    assert props["title"]["additionalProperties"]["maxLength"] == NAME_MAX
    assert props["title"]["maxProperties"] == 10
    assert schema["Price"]["properties"]["currency"]["maxLength"] == 3


def test_a_request_model_without_a_list_bound_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Loose\.tags"):

        class Loose(Strict):
            tags: list[str] | None = None

    with pytest.raises(TypeError, match=r"Mapping\.channels"):

        class Mapping(Strict):
            channels: dict[str, list[str]] = Field(default_factory=dict, max_length=5)


async def test_a_body_that_is_not_json_is_reported_as_such() -> None:
    response = await post(content=b'{"title": {"fi": "Paja"},')
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    [error] = problem["errors"]
    assert problem["title"] == "Invalid JSON" and error["field"] == "body"
    assert "not valid JSON" in problem["detail"] and problem["position"] == 25
    assert error["type"] == "json_invalid"
