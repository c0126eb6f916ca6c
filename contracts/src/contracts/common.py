"""Value types shared by several services' payloads."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field

from contracts.envelope import Payload

LANGUAGES = ("fi", "sv", "en")


def check_languages(value: dict[str, str]) -> dict[str, str]:
    """Every key of a multilingual text is a language code."""
    for code in value:
        if not (2 <= len(code) <= 8 and code.replace("-", "").isalpha()):
            raise ValueError(f"not a language code: {code!r}")
    return value


# Multilingual text: language code -> text. fi, sv and en are expected; others allowed.
# Unbounded in payloads, on purpose (a consumer takes what was sent); request bodies use
# kit.requests' bounded forms.
LocalizedText = Annotated[dict[str, str], AfterValidator(check_languages)]


class SkillLevel(StrEnum):
    beginner = "beginner"
    intermediate = "intermediate"
    advanced = "advanced"
    professional = "professional"


class Skill(Payload):
    skill: str = Field(min_length=1, max_length=80, description="Skill or topic, lower case")
    level: SkillLevel | None = None


class Audience(StrEnum):
    """The seed's target groups, plus the library's own staff."""

    associations = "associations"
    ngos = "ngos"
    immigrants = "immigrants"
    young_talents = "young_talents"
    students = "students"
    freelancers = "freelancers"
    startups = "startups"
    smes = "smes"
    staff = "staff"
    everyone = "everyone"


class ErasureCompleted(Payload):
    """A service has erased (or pseudonymised beyond recovery) a user's personal data."""

    user_id: str
    records_erased: int = 0
