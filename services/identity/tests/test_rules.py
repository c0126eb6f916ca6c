"""Unit tests of identity's rules: plain functions, no broker, no store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts import identity as idc
from contracts.pseudonym import participant_key
from identity.gdpr import status_of
from identity.organisation import business_id_valid
from identity.participant import ParticipantIn, age_band, pseudonymous
from identity.passwords import password_problem
from identity.profile import SkillIn, Visibility, can_see, dedupe
from identity.role import RoleChangeDenied, check_role_change
from kit.auth import Principal


def who(*roles: str, municipality: str = "helsinki", subject: str = "actor") -> Principal:
    return Principal(
        subject=subject, municipality=municipality, roles=frozenset(roles), issuer="test"
    )


def change(actor: Principal, role: str = "staff", *, grant: bool = True, **kw: str) -> None:
    check_role_change(
        actor=actor,
        target_id=kw.get("target", "target"),
        target_municipality=kw.get("municipality", "helsinki"),
        role=role,
        grant=grant,
    )


def test_admin_changes_municipal_roles_in_own_municipality() -> None:
    change(who("admin"), "staff")
    change(who("admin"), "mentor", grant=False)


@pytest.mark.parametrize(
    ("actor", "role", "kw", "status"),
    [
        (who("staff"), "mentor", {}, 403),
        (who("resident"), "admin", {}, 403),
        (who("admin", municipality="kouvola"), "staff", {}, 403),
        (who("admin"), "analyst", {}, 403),
        (who("admin"), "platform_admin", {}, 403),
        (who("admin"), "wizard", {}, 422),
    ],
)
def test_role_changes_refused(actor: Principal, role: str, kw: dict[str, str], status: int) -> None:
    with pytest.raises(RoleChangeDenied) as denied:
        change(actor, role, **kw)
    assert denied.value.status == status


def test_platform_admin_may_act_anywhere_but_not_lock_themselves_out() -> None:
    change(who("platform_admin", municipality="kouvola"), "analyst")
    with pytest.raises(RoleChangeDenied) as denied:
        change(who("admin"), "admin", grant=False, target="actor")
    assert denied.value.status == 409


@pytest.mark.parametrize(
    ("born", "band"),
    [
        (2010, idc.AgeBand.under_18),
        (2008, idc.AgeBand.age_18_29),
        (1997, idc.AgeBand.age_18_29),
        (1996, idc.AgeBand.age_30_54),
        (1972, idc.AgeBand.age_30_54),
        (1971, idc.AgeBand.age_55_plus),
        (None, idc.AgeBand.not_given),
        (2030, idc.AgeBand.not_given),
    ],
)
def test_age_band(born: int | None, band: idc.AgeBand) -> None:
    assert age_band(born, 2026) is band


def test_pseudonymous_profile_carries_no_identity() -> None:
    answers = ParticipantIn(
        gender=idc.Gender.non_binary, birth_year=1990, minority=True, disability=False
    )
    plain = pseudonymous("user-123", answers, key="k" * 20, sensitive=False, year=2026)
    assert plain.participant == participant_key("user-123", "k" * 20) != "user-123"
    assert plain.age_band is idc.AgeBand.age_30_54 and plain.birth_year is None
    assert plain.minority is None and plain.disability is None
    sensitive = pseudonymous("user-123", answers, key="k" * 20, sensitive=True, year=2026)
    assert sensitive.minority is True and sensitive.disability is False
    other_key = pseudonymous("user-123", answers, key="x" * 20, sensitive=False, year=2026)
    assert other_key.participant != plain.participant


def test_password_rules() -> None:
    assert password_problem("short") == "must be at least 10 characters"
    assert password_problem("maija@example.fi", email="Maija@Example.fi") is not None
    assert password_problem("a" * 257) is not None
    assert password_problem("kirjasto on kohtaamo") is None


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("0737546-2", True),
        ("1572860-0", True),
        ("1234567-8", False),
        ("0737546-3", False),
        ("737546-2", False),
        ("0737546+2", False),
    ],
)
def test_business_id(value: str, valid: bool) -> None:
    assert business_id_valid(value) is valid


def test_profile_visibility_rules() -> None:
    owner = {"_id": "owner", "municipality": "helsinki"}
    neighbour, outsider = who("resident"), who("resident", municipality="kouvola")
    staff, self_ = who("staff"), who("resident", subject="owner")
    assert can_see(None, owner, Visibility.public)
    assert not can_see(None, owner, Visibility.municipality)
    assert can_see(neighbour, owner, Visibility.municipality)
    assert not can_see(outsider, owner, Visibility.municipality)
    assert not can_see(neighbour, owner, Visibility.private)
    assert can_see(staff, owner, Visibility.private)
    assert not can_see(who("staff", municipality="kouvola"), owner, Visibility.private)
    assert can_see(self_, owner, Visibility.private)


def test_skills_deduplicate_with_the_last_level() -> None:
    skills = [SkillIn(skill=" Python  Basics"), SkillIn(skill="python basics", level="advanced")]
    assert [s.model_dump() for s in dedupe(skills)] == [
        {"skill": "python basics", "level": "advanced"}
    ]


def test_erasure_status_is_complete_only_when_every_service_answered() -> None:
    answering = ["events", "bookings"]
    now = datetime.now(UTC)
    doc = {"_id": "u1", "requested_at": now, "services": {"identity": {"completed_at": now}}}
    status = status_of(answering, doc)
    assert status.services == {"identity": now, "events": None, "bookings": None}
    assert not status.complete
    doc["services"] |= {"events": {"completed_at": now}, "bookings": {"completed_at": now}}
    assert status_of(answering, doc).complete
