"""Which channels a user wants for a kind of notice, and quiet hours (pure functions)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

CHANNELS = ("email", "sms", "inapp")
DEFAULT_CHANNELS = {"*": ["email", "inapp"]}
# Notice kinds users can set channels for (a kind's prefix before the first "_").
PREFERENCE_KINDS = (
    "*",
    "booking",
    "registration",
    "event",
    "reminder",
    "digest",
    "approval",
    "resource",
    "mentor",
    "welcome",
    "erasure",
)
# Never silenced: a user must learn their data was erased.
MANDATORY = {
    "erasure_confirmed": ["email"],
    # Account links (identity.account.link_issued) exist to reach the inbox.
    "verify_email": ["email"],
    "reset_password": ["email"],
}


def effective(contact: dict[str, Any] | None, override: dict[str, Any] | None) -> dict[str, Any]:
    """The user's own overrides win over what identity last told us."""
    prefs = {
        "channels": (contact or {}).get("channels") or DEFAULT_CHANNELS,
        "quiet_hours": (contact or {}).get("quiet_hours"),
        "timezone": (contact or {}).get("timezone") or "Europe/Helsinki",
    }
    for key in ("channels", "quiet_hours"):
        if override and key in override:
            prefs[key] = override[key]
    return prefs


def channels_for(kind: str, prefs: dict[str, Any], contact: dict[str, Any] | None) -> list[str]:
    """Channels for a notice kind: the kind's own setting, else its group's, else "*"."""
    if kind in MANDATORY:
        wanted = list(MANDATORY[kind])
    else:
        table: dict[str, list[str]] = prefs["channels"]
        group = kind.split("_", 1)[0]
        wanted = table.get(kind) or table.get(group) or table.get("*") or []
    result = []
    for channel in wanted:
        if channel not in CHANNELS or channel in result:
            continue
        # Skip a channel only when identity told us there is no address for it; before
        # the first contact.changed arrives the notice waits for one (sender retries).
        field = {"email": "email", "sms": "phone"}.get(channel)
        if field and contact is not None and field in contact and not contact[field]:
            continue
        result.append(channel)
    return result


def _parse(value: Any) -> time:
    return value if isinstance(value, time) else time.fromisoformat(str(value))


def quiet_until(now: datetime, quiet_hours: dict[str, Any] | None, tz: str) -> datetime | None:
    """If `now` falls in the quiet hours (local time, may wrap midnight), when they end."""
    if not quiet_hours:
        return None
    start, end = _parse(quiet_hours["start"]), _parse(quiet_hours["end"])
    if start == end:
        return None
    local = now.astimezone(ZoneInfo(tz))
    t = local.timetz().replace(tzinfo=None)
    wraps = start > end
    inside = (start <= t or t < end) if wraps else (start <= t < end)
    if not inside:
        return None
    end_day = local.date()
    if wraps and t >= start:
        end_day = end_day + timedelta(days=1)
    until = datetime.combine(end_day, end, tzinfo=ZoneInfo(tz))
    return until.astimezone(now.tzinfo)
