"""Field types of identity's requests, validated before any handler runs (422 naming the
field otherwise)."""

from __future__ import annotations

import re
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import AfterValidator, Field, StringConstraints

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.match(value) or len(value) > 254:
        raise ValueError("not an email address")
    return value


def _timezone(value: str) -> str:
    if value not in available_timezones():
        raise ValueError("not a known time zone")
    return value


def _skill(value: str) -> str:
    name = " ".join(value.lower().split())
    if not name:  # only whitespace: nothing left to store or publish
        raise ValueError("a skill needs a name")
    return name


Email = Annotated[str, AfterValidator(_email)]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")]
Languages = Annotated[list[Language], Field(max_length=20)]
TimeZone = Annotated[str, AfterValidator(_timezone)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,39}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{6,20}$")]
SkillName = Annotated[str, StringConstraints(min_length=1, max_length=80), AfterValidator(_skill)]
# A notice kind ("booking", "reminder", ...; "*" for the default): it becomes a field name
# in the stored preferences, so no dots, dollars or empty names. At most every kind once.
NoticeKind = Annotated[str, StringConstraints(pattern=r"^(\*|[a-z][a-z0-9_]{0,39})$")]
