"""Who may do what with an event: roles and tenant, checked in every service function's
caller. Role changes from identity are respected even before the caller's token expires."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from events import store
from events.errors import forbidden, not_found
from events.settings import EventsSettings
from events.status import EventStatus
from kit.app import Service
from kit.auth import Principal, ensure_municipality

MANAGERS = ("staff", "admin")
ORGANISERS = ("staff", "admin", "partner", "mentor")


async def effective(svc: Service[EventsSettings], principal: Principal) -> Principal:
    """Drop roles that identity has taken away since the token was issued."""
    known = await svc.store.db[store.ROLES].find_one({"_id": principal.subject})
    if known is None:
        return principal
    issued = datetime.fromtimestamp(int(principal.claims.get("iat", 0)), UTC)
    changed = known["changed_at"]
    if changed.tzinfo is None:
        changed = changed.replace(tzinfo=UTC)
    if changed <= issued:
        return principal  # the token already reflects the change
    return replace(principal, roles=principal.roles & frozenset(known["roles"]))


def is_manager(principal: Principal | None, municipality: str) -> bool:
    return (
        principal is not None
        and principal.has(*MANAGERS)
        and principal.municipality == municipality
    )


def ensure_manager(principal: Principal, municipality: str) -> None:
    ensure_municipality(principal, municipality)
    if not principal.has(*MANAGERS):
        raise forbidden("Requires one of the roles: staff, admin.")


def ensure_can_edit(principal: Principal, event: dict[str, Any]) -> None:
    """Staff and admins edit their municipality's events; partners and mentors only their
    own drafts."""
    ensure_municipality(principal, event["municipality"])
    if principal.has(*MANAGERS):
        return
    if (
        principal.has("partner", "mentor")
        and event.get("created_by") == principal.subject
        and event["status"] == EventStatus.DRAFT
    ):
        return
    raise forbidden("Only staff edit published events; organisers edit their own drafts.")


def ensure_visible(principal: Principal | None, event: dict[str, Any]) -> None:
    """Drafts are visible to their author and the municipality's staff only (as not found,
    so that their existence is not revealed)."""
    if event["status"] != EventStatus.DRAFT:
        return
    if is_manager(principal, event["municipality"]):
        return
    if principal is not None and event.get("created_by") == principal.subject:
        return
    raise not_found("event", event["_id"])
