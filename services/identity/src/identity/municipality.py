"""Municipalities: the tenants. Created by a platform admin; every other record names one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from pymongo.errors import DuplicateKeyError

from identity.core import Identity
from identity.errors import Conflict, IdentityError, NotFound
from identity.fields import Languages, Slug, TimeZone
from kit.requests import LocalizedName, Strict
from kit.uow import UnitOfWork


class MunicipalityIn(Strict):
    slug: Slug
    name: LocalizedName = Field(min_length=1)
    languages: Languages = Field(default_factory=lambda: ["fi", "sv", "en"], min_length=1)
    timezone: TimeZone = "Europe/Helsinki"


class MunicipalityOut(BaseModel):
    slug: str
    name: dict[str, str]
    languages: list[str]
    timezone: str


def to_out(doc: dict[str, Any]) -> MunicipalityOut:
    return MunicipalityOut(
        slug=doc["_id"], name=doc["name"], languages=doc["languages"], timezone=doc["timezone"]
    )


async def create(ctx: Identity, data: MunicipalityIn) -> dict[str, Any]:
    doc = {
        "_id": data.slug,
        "name": data.name,
        "languages": data.languages,
        "timezone": data.timezone,
        "created_at": datetime.now(UTC),
    }

    # A unit of work (for the audit entry of the action creating it), rerun on a conflict.
    async def insert(uow: UnitOfWork) -> None:
        await ctx.db.municipalities.insert_one(doc, session=uow.session)

    try:
        await ctx.svc.uow.run(insert)
    except DuplicateKeyError as exc:
        raise Conflict(f"Municipality {data.slug} exists.", field="slug") from exc
    return doc


async def ensure(ctx: Identity, data: MunicipalityIn) -> dict[str, Any]:
    """Create unless present (seeding)."""
    found = await ctx.db.municipalities.find_one({"_id": data.slug})
    return found if found is not None else await create(ctx, data)


async def get(
    ctx: Identity,
    slug: str,
    *,
    field: str = "municipality",
    missing: type[IdentityError] = NotFound,
) -> dict[str, Any]:
    """The municipality; `missing` is the error when there is none (Invalid where the slug
    is a value given with other data)."""
    doc = await ctx.db.municipalities.find_one({"_id": slug})
    if doc is None:
        raise missing(f"No municipality {slug}.", field=field, title="Unknown municipality")
    return doc


async def list_all(ctx: Identity) -> list[dict[str, Any]]:
    return await ctx.db.municipalities.find({}, sort=[("_id", 1)]).to_list()
