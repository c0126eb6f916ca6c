"""Demo data for Helsinki and Kouvola (idempotent): a platform admin, and per municipality
an admin, staff, residents, mentors with offers, an NGO and a start-up. Every demo account
uses the `KOHTAAMO_DEMO_PASSWORD` setting (a documented development default)."""

from __future__ import annotations

from typing import Any

from identity import mentor, municipality, organisation, profile
from identity.core import Identity, identity_of
from identity.mentor import MentorKind, OfferIn
from identity.municipality import MunicipalityIn
from identity.organisation import OrganisationIn, OrganisationKind
from identity.profile import ProfileIn, SkillIn
from identity.user import SignUp, sign_up
from kit.app import Service
from kit.auth import Principal

MUNICIPALITIES = [
    MunicipalityIn(
        slug="helsinki",
        name={"fi": "Helsinki", "sv": "Helsingfors", "en": "Helsinki"},
        languages=["fi", "sv", "en"],
    ),
    MunicipalityIn(
        slug="kouvola",
        name={"fi": "Kouvola", "sv": "Kouvola", "en": "Kouvola"},
        languages=["fi", "sv", "en"],
    ),
]

# (local part, display name, roles, language)
PEOPLE = [
    ("admin", "Aino Admin", ["admin", "staff"], "fi"),
    ("staff", "Sami Staff", ["staff"], "fi"),
    ("resident", "Riikka Resident", ["resident"], "fi"),
    ("resident2", "Rasmus Resident", ["resident"], "sv"),
    ("mentor", "Mikko Mentor", ["resident", "mentor"], "fi"),
    ("mentor2", "Maria Mentor", ["resident", "mentor"], "en"),
    ("partner", "Pia Partner", ["resident", "partner"], "fi"),
]

OFFERS = {
    "mentor": OfferIn(
        kind=MentorKind.professional,
        topics=[SkillIn(skill="3d printing", level="professional"), SkillIn(skill="cad")],
        languages=["fi", "en"],
        bio="Mediamajan 3D-tulostus ja mallinnus.",
    ),
    "mentor2": OfferIn(
        kind=MentorKind.peer_mentor,
        topics=[SkillIn(skill="cv writing", level="advanced"), SkillIn(skill="python")],
        languages=["en", "sv"],
        bio="Help with job applications and first steps in programming.",
    ),
}

ORGANISATIONS = [
    # (name, kind, business id, contact, size band)
    ("Lukupiiri ry", OrganisationKind.ngo, None, "partner", None),
    ("Maker Start-up Oy", OrganisationKind.startup, "0737546-2", "mentor", "2-9"),
]


def email(local: str, slug: str) -> str:
    return f"{local}@{slug}.kohtaamo.example"


async def _person(
    ctx: Identity, slug: str, local: str, name: str, roles: list[str], language: str
) -> tuple[dict[str, Any], bool]:
    address = email(local, slug)
    found = await ctx.db.users.find_one({"municipality": slug, "email": address})
    if found is not None:
        return found, False
    data = SignUp(
        municipality=slug,
        email=address,
        password=ctx.settings.demo_password.get_secret_value(),
        display_name=name,
        language=language,
        accept_terms=True,
    )
    user, _ = await sign_up(ctx, data, roles=roles)
    return user, True


async def seed(svc: Service) -> dict[str, Any]:
    ctx = identity_of(svc)
    created: dict[str, int] = {"municipalities": 0, "users": 0, "offers": 0, "organisations": 0}
    for place in MUNICIPALITIES:
        if await ctx.db.municipalities.find_one({"_id": place.slug}) is None:
            created["municipalities"] += 1
        await municipality.ensure(ctx, place)

    _, new = await _person(
        ctx, "helsinki", "platform", "Paula Platform", ["platform_admin", "admin"], "fi"
    )
    created["users"] += int(new)
    for place in MUNICIPALITIES:
        slug = place.slug
        people: dict[str, dict[str, Any]] = {}
        for local, name, roles, language in PEOPLE:
            user, new = await _person(ctx, slug, local, name, roles, language)
            people[local] = user
            created["users"] += int(new)
            if new and local in OFFERS:
                offer = OFFERS[local]
                await profile.save(
                    ctx,
                    user,
                    ProfileIn(languages=offer.languages, skills=offer.topics),
                )
                await mentor.publish(ctx, user, offer)
                created["offers"] += 1
        for org_name, kind, business_id, contact, size in ORGANISATIONS:
            if await ctx.db.organisations.find_one({"municipality": slug, "name": org_name}):
                continue
            owner = people[contact]
            principal = Principal(
                subject=owner["_id"],
                municipality=slug,
                roles=frozenset(owner["roles"]),
                issuer=ctx.sessions.issuer,
            )
            await organisation.register(
                ctx,
                principal,
                OrganisationIn(name=org_name, kind=kind, business_id=business_id, size_band=size),
            )
            created["organisations"] += 1
    return {"created": created, "password_setting": "KOHTAAMO_DEMO_PASSWORD"}
