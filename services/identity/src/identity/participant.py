"""The optional ESF participant profile. Stored apart from the profile; it leaves identity
only as pseudonymous attributes (keyed hash of the user id, an age band instead of a birth
year) and only while the user consents to ESF statistics. The sensitive groups are sent
only with the separate `esf_sensitive` consent."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from pymongo.asynchronous.client_session import AsyncClientSession

from contracts import identity as idc
from contracts.pseudonym import participant_key
from identity.core import Identity
from identity.errors import NotConfigured
from identity.purpose import Purpose, granted
from kit.requests import Strict

SENSITIVE = ("disability", "third_country_national", "foreign_background", "minority")


class ParticipantIn(Strict):
    """Every answer may be left out: `not_given` or null means "prefer not to say"."""

    gender: idc.Gender = idc.Gender.not_given
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    employment: idc.EmploymentStatus = idc.EmploymentStatus.not_given
    education: idc.Education = idc.Education.not_given
    disability: bool | None = None
    third_country_national: bool | None = None
    foreign_background: bool | None = None
    minority: bool | None = None


class ParticipantOut(BaseModel):
    """The answers as held, and whether they are shared (with ESF consent)."""

    gender: idc.Gender
    birth_year: int | None = None
    employment: idc.EmploymentStatus
    education: idc.Education
    disability: bool | None = None
    third_country_national: bool | None = None
    foreign_background: bool | None = None
    minority: bool | None = None
    shared: bool


def age_band(birth_year: int | None, year: int) -> idc.AgeBand:
    if birth_year is None or birth_year > year:
        return idc.AgeBand.not_given
    age = year - birth_year
    if age < 18:
        return idc.AgeBand.under_18
    if age < 30:
        return idc.AgeBand.age_18_29
    if age < 55:
        return idc.AgeBand.age_30_54
    return idc.AgeBand.age_55_plus


def pseudonymous(
    user_id: str, answers: ParticipantIn, *, key: str, sensitive: bool, year: int
) -> idc.ParticipantProfileChanged:
    """What analytics may know: no id, no name, no email, no birth year."""
    groups = {name: getattr(answers, name) if sensitive else None for name in SENSITIVE}
    return idc.ParticipantProfileChanged(
        participant=participant_key(user_id, key),
        gender=answers.gender,
        age_band=age_band(answers.birth_year, year),
        employment=answers.employment,
        education=answers.education,
        **groups,
    )


def _key(ctx: Identity) -> str:
    key = ctx.settings.pseudonym_key
    if key is None or not key.get_secret_value():
        raise NotConfigured(
            "This site has no pseudonym key (KOHTAAMO_PSEUDONYM_KEY); try again later.",
            title="ESF statistics not configured",
        )
    return key.get_secret_value()


async def publish(ctx: Identity, session: AsyncClientSession, user: dict[str, Any]) -> None:
    """Send the profile, or its withdrawal, as the consents now say."""

    uid = user["_id"]
    doc = await ctx.db.participant_profiles.find_one({"_id": uid}, session=session)
    if doc is None:
        return
    consented = await granted(ctx, uid, Purpose.esf_statistics, session)
    if consented:
        sensitive = await granted(ctx, uid, Purpose.esf_sensitive, session)
        answers = ParticipantIn.model_validate(doc["answers"])
        event = pseudonymous(
            uid, answers, key=_key(ctx), sensitive=sensitive, year=datetime.now(UTC).year
        )
    elif doc.get("published"):
        event = idc.ParticipantProfileChanged(
            participant=participant_key(uid, _key(ctx)), withdrawn=True
        )
    else:
        return
    await ctx.db.participant_profiles.update_one(
        {"_id": uid}, {"$set": {"published": consented}}, session=session
    )
    # No subject: the user id must not travel with the pseudonymous profile.
    await ctx.svc.emit(
        session,
        ctx.svc.event(idc.PARTICIPANT_PROFILE_CHANGED, event, municipality=user["municipality"]),
    )


async def save(ctx: Identity, user: dict[str, Any], answers: ParticipantIn) -> dict[str, Any]:
    now = datetime.now(UTC)
    async with ctx.svc.uow() as uow:
        session = uow.session
        await ctx.db.participant_profiles.update_one(
            {"_id": user["_id"]},
            {
                "$set": {
                    "municipality": user["municipality"],
                    "answers": answers.model_dump(mode="json"),
                    "updated_at": now,
                },
                "$setOnInsert": {"published": False},
            },
            upsert=True,
            session=session,
        )
        await publish(ctx, session, user)
    doc = await ctx.db.participant_profiles.find_one({"_id": user["_id"]})
    assert doc is not None
    return doc


async def remove(ctx: Identity, user: dict[str, Any]) -> bool:
    async with ctx.svc.uow() as uow:
        session = uow.session
        doc = await ctx.db.participant_profiles.find_one_and_delete(
            {"_id": user["_id"]}, session=session
        )
        if doc is not None and doc.get("published"):
            withdrawn = idc.ParticipantProfileChanged(
                participant=participant_key(user["_id"], _key(ctx)), withdrawn=True
            )
            await ctx.svc.emit(
                session,
                ctx.svc.event(
                    idc.PARTICIPANT_PROFILE_CHANGED, withdrawn, municipality=user["municipality"]
                ),
            )
    return doc is not None
