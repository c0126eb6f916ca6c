"""Profiles: languages, skills and interests with a level, and who may see them."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field
from pymongo.errors import DuplicateKeyError

from contracts import identity as idc
from contracts.common import Skill, SkillLevel
from identity.core import Identity
from identity.fields import Languages, SkillName
from kit.auth import Principal
from kit.conditional import Precondition, bump, etag, revision_of, stale
from kit.requests import Strict
from kit.uow import UnitOfWork


class Visibility(StrEnum):
    private = "private"  # only the user and the municipality's staff
    municipality = "municipality"  # signed-in people of the same municipality
    public = "public"  # anyone


class SkillIn(Strict):
    skill: SkillName
    level: SkillLevel | None = None


class ProfileIn(Strict):
    languages: Languages = Field(default_factory=list)
    skills: list[SkillIn] = Field(default_factory=list, max_length=50)
    # What the user wants to learn or get help with.
    wants: list[SkillIn] = Field(default_factory=list, max_length=50)
    # Interests carry a level too (hobbyist "beginner" ... "professional").
    interests: list[SkillIn] = Field(default_factory=list, max_length=50)
    visibility: Visibility = Visibility.municipality


class ProfileOut(ProfileIn):
    # An answer, not a request: built from the stored profile.
    model_config = ConfigDict(extra="ignore")

    user_id: str
    display_name: str
    municipality: str


def dedupe(skills: list[SkillIn]) -> list[SkillIn]:
    """One entry per skill; the last level given wins."""
    by_name = {s.skill: s for s in skills}
    return list(by_name.values())


def can_see(viewer: Principal | None, owner: dict[str, Any], visibility: Visibility) -> bool:
    if visibility is Visibility.public:
        return True
    if viewer is None:
        return False
    if viewer.subject == owner["_id"]:
        return True
    same_place = viewer.municipality == owner["municipality"]
    if visibility is Visibility.municipality:
        return same_place
    return same_place and viewer.has("staff", "admin")


def default_profile(user: dict[str, Any]) -> dict[str, Any]:
    return {
        "_id": user["_id"],
        "municipality": user["municipality"],
        "languages": [user["language"]],
        "skills": [],
        "wants": [],
        "interests": [],
        "visibility": Visibility.municipality.value,
    }


def to_out(user: dict[str, Any], doc: dict[str, Any] | None) -> ProfileOut:
    doc = doc or default_profile(user)
    return ProfileOut(
        user_id=user["_id"],
        display_name=user["display_name"],
        municipality=user["municipality"],
        languages=doc["languages"],
        skills=[SkillIn.model_validate(s) for s in doc["skills"]],
        wants=[SkillIn.model_validate(s) for s in doc["wants"]],
        interests=[SkillIn.model_validate(i) for i in doc["interests"]],
        visibility=Visibility(doc["visibility"]),
    )


async def get(ctx: Identity, user: dict[str, Any]) -> ProfileOut:
    return (await read(ctx, user))[0]


async def read(ctx: Identity, user: dict[str, Any]) -> tuple[ProfileOut, str]:
    """The profile and its ETag (the profile's revision; the owner's, whose name it also
    shows, as the variant)."""
    doc = await ctx.db.profiles.find_one({"_id": user["_id"]})
    return to_out(user, doc), etag_of(user, doc)


def etag_of(user: dict[str, Any], doc: dict[str, Any] | None) -> str:
    return etag(doc or {}, f"u{revision_of(user)}")


async def save(
    ctx: Identity, user: dict[str, Any], data: ProfileIn, precondition: Precondition | None = None
) -> tuple[ProfileOut, str]:
    """Set the profile; with `precondition` (If-Match) only over the revision it names
    (`"r0"`: none yet), checked in the update's filter (412 otherwise). The profile as
    saved and its ETag."""
    precondition = precondition or Precondition(None)
    skills, wants = dedupe(data.skills), dedupe(data.wants)
    interests = dedupe(data.interests)
    languages = list(dict.fromkeys(data.languages))
    doc = {
        "municipality": user["municipality"],
        "languages": languages,
        "skills": [s.model_dump(mode="json") for s in skills],
        "wants": [s.model_dump(mode="json") for s in wants],
        "interests": [i.model_dump(mode="json") for i in interests],
        "visibility": data.visibility.value,
        "updated_at": datetime.now(UTC),
    }
    # Skills and languages only: no name, no free text about the person.
    event = idc.ProfileUpdated(
        user_id=user["_id"],
        skills_offered=[Skill(skill=s.skill, level=s.level) for s in skills],
        skills_wanted=[Skill(skill=s.skill, level=s.level) for s in wants],
        interests=[i.skill for i in interests],  # the contract carries names only
        languages=languages,
    )

    async def work(uow: UnitOfWork) -> dict[str, Any] | None:
        session = uow.session
        try:
            await ctx.db.profiles.update_one(
                {"_id": user["_id"], **precondition.filter()},
                bump({"$set": doc}),
                upsert=True,
                session=session,
            )
        except DuplicateKeyError:
            if not precondition.given:  # two first saves at once: the other one's error
                raise
            # it exists, at another revision than If-Match names
            raise stale(await ctx.db.profiles.find_one({"_id": user["_id"]})) from None
        saved = await ctx.db.profiles.find_one({"_id": user["_id"]}, session=session)
        await ctx.emit(
            session,
            idc.PROFILE_UPDATED,
            event,
            municipality=user["municipality"],
            subject=f"user/{user['_id']}",
        )
        return saved

    # run again after a write conflict: with If-Match the loser is then refused (412)
    saved = await ctx.svc.uow.run(work)
    return to_out(user, {"_id": user["_id"], **doc}), etag_of(user, saved)
