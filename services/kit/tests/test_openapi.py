"""The OpenAPI document of a kit app documents the kit's problem+json answers on every
operation (by what the route takes and who may call it) and non-JSON bodies with their own
media types; partial-update bodies refuse null where it cannot be stored."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, Depends, FastAPI, Response
from pydantic import BaseModel, Field

from kit.auth import Auth, Principal, TokenVerifier
from kit.openapi import PROBLEM_JSON, file_response
from kit.patch import Patch
from kit.problems import install_problem_handlers


class ThingIn(BaseModel):
    name: str
    venue_id: str


class ThingPatch(Patch):
    nullable = frozenset({"note"})
    name: str | None = None
    capacity: int | None = Field(default=None, ge=1)
    note: str | None = None


def app() -> FastAPI:
    auth = Auth(TokenVerifier([], audience="kohtaamo"))
    api = FastAPI()
    install_problem_handlers(api)
    router = APIRouter()
    staff = Depends(auth.require("staff"))
    anyone = Depends(auth.optional)

    @router.get("/things")
    async def listing(principal: Principal | None = anyone) -> list[str]:
        return []

    @router.post("/things", status_code=201)
    async def create(data: ThingIn, principal: Principal = staff) -> dict[str, str]:
        return {"id": "t1"}

    @router.patch("/things/{thing_id}")
    async def patch(thing_id: str, data: ThingPatch) -> dict[str, Any]:
        return data.model_dump(exclude_unset=True)

    @router.get("/open")
    async def open_() -> dict[str, str]:
        return {}

    @router.get("/things.ics", **file_response("A calendar", "text/calendar"))
    async def feed() -> Response:
        return Response("BEGIN:VCALENDAR", media_type="text/calendar")

    api.include_router(router)  # included routers are documented like the app's own
    return api


def test_problem_answers_follow_the_route() -> None:
    doc = app().openapi()
    ops = doc["paths"]
    listing, create = ops["/things"]["get"]["responses"], ops["/things"]["post"]["responses"]
    patch, open_ = ops["/things/{thing_id}"]["patch"]["responses"], ops["/open"]["get"]["responses"]

    # A sent token is checked; any operation refuses a query parameter it does not take.
    assert set(listing) == {"200", "401", "403", "422", "503"}
    assert set(create) == {"201", "400", "401", "403", "404", "409", "422", "503"}  # venue_id
    assert set(patch) == {"200", "400", "404", "409", "422", "503"}
    assert set(open_) == {"200", "422", "503"}
    for answers in (listing, create, patch, open_):
        for code, answer in answers.items():
            if code[0] in "45":
                assert answer["content"] == {
                    PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, code
    schemas = doc["components"]["schemas"]
    assert "Problem" in schemas
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas

    feed = ops["/things.ics"]["get"]["responses"]["200"]["content"]
    assert feed == {"text/calendar": {"schema": {"type": "string"}}}
    # Null is documented only where it is accepted.
    props = schemas["ThingPatch"]["properties"]
    assert props["capacity"]["type"] == "integer" and "anyOf" not in props["capacity"]
    assert {"type": "null"} in props["note"]["anyOf"]


async def test_patch_refuses_null_naming_the_field() -> None:
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        refused = await client.patch("/things/t1", json={"name": None, "note": "x"})
        cleared = await client.patch("/things/t1", json={"note": None, "capacity": 2})
    assert refused.status_code == 422
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert [e["field"] for e in refused.json()["errors"]] == ["name"]
    assert cleared.status_code == 200
    assert cleared.json() == {"note": None, "capacity": 2}
