"""Registration lists for staff as CSV and XLSX (openpyxl)."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import Workbook

from events import attendance, clock
from kit.app import Service

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
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


async def rows(svc: Service, event: dict[str, Any]) -> list[list[Any]]:
    tz = event["timezone"]
    found, waiting = [], 0
    for reg in await attendance.check_in_list(svc, event["_id"]):
        place = None
        if reg["status"] == "waitlisted":
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
                {True: "yes", False: "no"}.get(reg.get("attended"), ""),  # type: ignore[arg-type]
            ]
        )
    return found


def _safe(value: Any) -> Any:
    # Spreadsheet formula injection: text starting with these is shown, never evaluated.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def to_csv(data: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in data:
        writer.writerow(["" if v is None else _safe(v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # BOM: Excel reads UTF-8 right


def sheet_title(event: dict[str, Any]) -> str:
    title = event["title"].get("fi") or next(iter(event["title"].values()))
    return "".join(c for c in title if c not in "[]:*?/\\")[:31] or "registrations"


def to_xlsx(data: list[list[Any]], *, title: str) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    sheet.append(COLUMNS)
    for row in data:
        sheet.append([_safe(v) for v in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
