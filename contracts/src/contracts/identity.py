"""Identity's published events. Personal contact data travels only in
`contact.changed` (for notifications); analytics binds only to PII-free events."""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum

from pydantic import Field

from contracts.common import ErasureCompleted, Skill
from contracts.envelope import Payload
from contracts.registry import event_type, register

USER_REGISTERED = event_type("identity", "user.registered")
USER_ROLES_CHANGED = event_type("identity", "user.roles_changed")
USER_ERASED = event_type("identity", "user.erased")
CONTACT_CHANGED = event_type("identity", "contact.changed")
PROFILE_UPDATED = event_type("identity", "profile.updated")
MENTOR_OFFER_CHANGED = event_type("identity", "mentor.offer_changed")
CONSENT_CHANGED = event_type("identity", "consent.changed")
PARTICIPANT_PROFILE_CHANGED = event_type("identity", "participant.profile_changed")
ORGANISATION_REGISTERED = event_type("identity", "organisation.registered")
ERASURE_COMPLETED = event_type("identity", "erasure.completed")
ROLE_GRANTED = event_type("identity", "role.granted")
ROLE_REVOKED = event_type("identity", "role.revoked")
TOKENS_REVOKED = event_type("identity", "user.tokens_revoked")
ACCOUNT_LINK_ISSUED = event_type("identity", "account.link_issued")


@register(USER_REGISTERED)
class UserRegistered(Payload):
    user_id: str
    roles: list[str]
    preferred_language: str = "fi"
    organisation_id: str | None = None
    registered_at: datetime


@register(USER_ROLES_CHANGED)
class UserRolesChanged(Payload):
    user_id: str
    roles: list[str]


@register(USER_ERASED)
class UserErased(Payload):
    """Every service erases what it keeps of this user and answers `<svc>.erasure.completed`."""

    user_id: str
    requested_at: datetime


class RevocationReason(StrEnum):
    erased = "erased"
    disabled = "disabled"
    password_changed = "password_changed"
    role_removed = "role_removed"


@register(TOKENS_REVOKED)
class TokensRevoked(Payload):
    """Every service refuses the user's access tokens issued (`iat`) before `issued_before`
    from now on; they would have expired within the access token lifetime anyway. A new
    login or refresh gives a token that works (unless the account is gone)."""

    user_id: str
    issued_before: datetime
    reason: RevocationReason


class AccountLinkPurpose(StrEnum):
    verify_email = "verify_email"
    reset_password = "reset_password"


@register(ACCOUNT_LINK_ISSUED)
class AccountLinkIssued(Payload):
    """A single-use, expiring, signed link for the user's email (notifications mails it,
    whatever the user's channel preferences). `token` is a secret: whoever holds it may
    verify the email or set a new password until `expires_at` or its first use; it is
    for notifications only."""

    user_id: str
    purpose: AccountLinkPurpose
    token: str = Field(max_length=500)
    expires_at: datetime


class Channel(StrEnum):
    email = "email"
    sms = "sms"
    inapp = "inapp"


class QuietHours(Payload):
    start: time
    end: time


@register(CONTACT_CHANGED)
class ContactChanged(Payload):
    """Contact details and notification preferences, for the notifications service only."""

    user_id: str
    display_name: str
    email: str | None = None
    phone: str | None = None
    language: str = "fi"
    # notice kind (e.g. "booking", "registration", "reminder", "digest") -> channels; "*" default
    channels: dict[str, list[Channel]] = Field(
        default_factory=lambda: {"*": [Channel.email, Channel.inapp]}
    )
    quiet_hours: QuietHours | None = None
    timezone: str = "Europe/Helsinki"


@register(PROFILE_UPDATED)
class ProfileUpdated(Payload):
    user_id: str
    skills_offered: list[Skill] = Field(default_factory=list)
    skills_wanted: list[Skill] = Field(default_factory=list)
    interests: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)


@register(MENTOR_OFFER_CHANGED)
class MentorOfferChanged(Payload):
    user_id: str
    active: bool
    kind: str = "peer_mentor"  # peer_mentor | professional
    topics: list[Skill] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)


@register(CONSENT_CHANGED)
class ConsentChanged(Payload):
    user_id: str
    purpose: str  # e.g. "esf_statistics", "esf_sensitive", "marketing"
    granted: bool
    changed_at: datetime


class Gender(StrEnum):
    woman = "woman"
    man = "man"
    non_binary = "non_binary"
    not_given = "not_given"


class AgeBand(StrEnum):
    under_18 = "under_18"
    age_18_29 = "18_29"
    age_30_54 = "30_54"
    age_55_plus = "55_plus"
    not_given = "not_given"


class EmploymentStatus(StrEnum):
    unemployed = "unemployed"
    long_term_unemployed = "long_term_unemployed"
    inactive = "inactive"
    employed = "employed"  # incl. self-employed
    not_given = "not_given"


class Education(StrEnum):
    isced_0_2 = "isced_0_2"
    isced_3_4 = "isced_3_4"
    isced_5_8 = "isced_5_8"
    not_given = "not_given"


@register(PARTICIPANT_PROFILE_CHANGED)
class ParticipantProfileChanged(Payload):
    """The ESF participant profile, sent only while the user consents to ESF statistics.
    Pseudonymous: `participant` is the keyed hash (HMAC-SHA256 with the network's
    `KOHTAAMO_PSEUDONYM_KEY`) of the user id, never the id itself, a name, an email or a
    birth date. Analytics applies the same keyed hash to user ids in other events.
    `withdrawn` is true when the consent was withdrawn: drop the attributes."""

    participant: str = Field(min_length=16)
    gender: Gender = Gender.not_given
    age_band: AgeBand = AgeBand.not_given
    employment: EmploymentStatus = EmploymentStatus.not_given
    education: Education = Education.not_given
    disability: bool | None = None
    third_country_national: bool | None = None
    foreign_background: bool | None = None
    minority: bool | None = None
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    withdrawn: bool = False


@register(ORGANISATION_REGISTERED)
class OrganisationRegistered(Payload):
    organisation_id: str
    kind: str  # sme | association | ngo | startup | public | other
    size_band: str | None = None


@register(ERASURE_COMPLETED)
class IdentityErasureCompleted(ErasureCompleted):
    pass


class RoleChange(Payload):
    """One role given to or taken from a user in the event's municipality; `roles` is the
    user's full set afterwards (as in `user.roles_changed`, which is published alongside)."""

    user_id: str
    role: str
    roles: list[str]
    changed_by: str | None = None  # the admin's user id
    changed_at: datetime


@register(ROLE_GRANTED)
class RoleGranted(RoleChange):
    pass


@register(ROLE_REVOKED)
class RoleRevoked(RoleChange):
    pass
