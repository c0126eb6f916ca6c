"""Registration lists for staff as CSV and XLSX (kit.sheets: typed text is never a formula)."""

from __future__ import annotations

from typing import Any

from events import attendance, clock
from events.settings import EventsSettings
from events.status import RegistrationStatus
from kit import sheets
from kit.app import Service

XLSX = sheets.XLSX
ATTENDED: dict[Any, str] = {True: "yes", False: "no"}  # not marked: empty
COLUMNS = [
    "registration_id",
    "status",
    "place",
    "name",
    "user_id",
    "seats",
    "group_name",
    "code",
    "registered_at",
    "attended",
]


async def rows(svc: Service[EventsSettings], event: dict[str, Any]) -> list[list[Any]]:
    tz = event["timezone"]
    found, waiting = [], 0
    for reg in await attendance.check_in_list(svc, event["_id"]):
        place = None
        if reg["status"] == RegistrationStatus.WAITLISTED:
            waiting += 1
            place = waiting
        registered = clock.local(reg["created_at"], tz)
        found.append(
            [
                reg["_id"],
                reg["status"],
                place,
                reg.get("name") or "",
                reg["user_id"],
                reg["seats"],
                reg.get("group_name") or "",
                reg.get("code") or "",
                registered.strftime("%Y-%m-%d %H:%M") if registered else "",
                ATTENDED.get(reg.get("attended"), ""),
            ]
        )
    return found


def to_csv(data: list[list[Any]]) -> bytes:
    return sheets.to_csv(COLUMNS, data, bom=True).encode("utf-8")


def sheet_title(event: dict[str, Any]) -> str:
    title = event["title"].get("fi") or next(iter(event["title"].values()))
    return sheets.sheet_title(title) if title else "registrations"


def to_xlsx(data: list[list[Any]], *, title: str) -> bytes:
    return sheets.to_xlsx([sheets.Sheet(title, [COLUMNS, *data], bold_rows=1)])
