"""Attendance (by registration and by check-in code), head counts, feedback and exports."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

from openpyxl import load_workbook

from contracts import events as ev


async def test_check_in_by_code_and_by_list(api: Any, published: Any) -> None:
    event = await api.event(days=0.02, capacity=2, kind="course")  # starts in half an hour
    eid = event["id"]
    a = (await api.register(eid, "att-a", name="Aino")).json()
    b = (await api.register(eid, "att-b", seats=2, group_name="Kerho")).json()
    waiting = (await api.register(eid, "att-c")).json()
    assert waiting["status"] == "waitlisted"
    assert b["status"] == "waitlisted"  # 2 seats do not fit the 1 left
    staff = api.auth()

    r = await api.client.post(f"/events/{eid}/attendance", json={"code": a["code"].lower()},
                              headers=staff)  # fmt: skip
    assert r.status_code == 200 and r.json()["attended"] is True
    [mark] = await published.wait(ev.ATTENDANCE_RECORDED, event_id=eid)
    assert mark["data"]["user_id"] == "att-a" and mark["data"]["hours"] == 2.0
    assert mark["data"]["kind"] == "course" and mark["data"]["attended"] is True
    # the same mark again tells nobody anything new
    r = await api.client.post(f"/events/{eid}/attendance", json={"registration_id": a["id"]},
                              headers=staff)  # fmt: skip
    assert r.status_code == 200
    r = await api.client.post(f"/events/{eid}/attendance", json={"registration_id": a["id"],
                              "attended": False}, headers=staff)  # fmt: skip
    assert r.json()["attended"] is False
    marks = await published.wait(ev.ATTENDANCE_RECORDED, 2, event_id=eid)
    assert len(marks) == 2 and marks[-1]["data"]["attended"] is False

    # waiting people cannot be checked in; unknown codes are 404; only staff mark
    r = await api.client.post(f"/events/{eid}/attendance", json={"code": waiting["code"]},
                              headers=staff)  # fmt: skip
    assert r.status_code == 409
    r = await api.client.post(f"/events/{eid}/attendance", json={"code": "ZZZZ9999"},
                              headers=staff)  # fmt: skip
    assert r.status_code == 404
    r = await api.client.post(f"/events/{eid}/attendance", json={}, headers=staff)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "registration_id"
    for who in (
        api.auth("resident", sub="att-a"),
        api.auth("partner"),
        api.auth("staff", "kouvola"),
    ):
        r = await api.client.post(
            f"/events/{eid}/attendance", json={"code": a["code"]}, headers=who
        )
        assert r.status_code == 403

    # The check-in list: confirmed first, then the waiting list in order.
    r = await api.client.get(f"/events/{eid}/registrations", headers=staff)
    whole = r.json()
    rows = [(x["user_id"], x["status"], x["place"]) for x in whole["items"]]
    assert rows == [("att-a", "confirmed", None), ("att-b", "waitlisted", 1),
                    ("att-c", "waitlisted", 2)]  # fmt: skip
    # A page of it keeps the waiting list's places and the event's counts.
    r = await api.client.get(f"/events/{eid}/registrations?limit=1&offset=2", headers=staff)
    tail = r.json()
    assert [(x["user_id"], x["place"]) for x in tail["items"]] == [("att-c", 2)]
    assert (tail["total"], tail["next"], tail["seats_taken"]) == (3, None, whole["seats_taken"])

    # Exports for staff: CSV and XLSX with the same rows.
    r = await api.client.get(f"/events/{eid}/registrations.csv", headers=staff)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0][:3] == ["registration_id", "status", "place"]
    assert [row[4] for row in table[1:]] == ["att-a", "att-b", "att-c"]
    assert table[1][3] == "Aino" and table[2][6] == "Kerho" and table[2][5] == "2"
    r = await api.client.get(f"/events/{eid}/registrations.xlsx", headers=staff)
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "registration_id" and [v[4] for v in values[1:]] == [
        "att-a", "att-b", "att-c"]  # fmt: skip
    assert values[1][9] == "no"  # att-a was marked absent last
    for path in ("registrations.csv", "registrations.xlsx"):
        r = await api.client.get(f"/events/{eid}/{path}", headers=api.auth("staff", "kouvola"))
        assert r.status_code == 403
        r = await api.client.get(f"/events/{eid}/{path}", headers=api.auth("resident"))
        assert r.status_code == 403


async def test_check_in_by_pass(api: Any, published: Any) -> None:
    """The QR code's pass: staff of the event's municipality mark the person present once
    (two desks at once: one wins); others, unknown and malformed passes, a waiting
    registration get clear errors."""
    event = await api.event(days=0.02, capacity=1, kind="workshop")
    eid = event["id"]
    a = (await api.register(eid, "pass-a", name="Aino")).json()
    waiting = (await api.register(eid, "pass-b")).json()
    code = a["checkin_pass"]
    assert code.startswith("R") and a["id"] not in code and a["code"] not in code
    mine = await api.client.get("/registrations/mine", headers=api.auth("resident", sub="pass-a"))
    assert [r["checkin_pass"] for r in mine.json()["items"]] == [code]
    staff = api.auth()

    async def scan(text: str, headers: dict[str, str]) -> Any:
        return await api.client.post("/registrations/check-in", json={"code": text},
                                     headers=headers)  # fmt: skip

    for who in (api.auth("resident", sub="pass-a"), api.auth("staff", "kouvola")):
        assert (await scan(code, who)).status_code == 403
    r = await scan(a["id"], staff)
    assert r.status_code == 422 and r.json()["type"].endswith("/pass-invalid")
    r = await scan("R" + "Q" * 24, staff)
    assert r.status_code == 404 and r.json()["type"].endswith("/pass-unknown")
    r = await scan(waiting["checkin_pass"], staff)
    assert r.status_code == 409 and r.json()["type"].endswith("/pass-not-valid")
    both = await asyncio.gather(scan(code, staff), scan(code.lower(), staff))
    assert sorted(r.status_code for r in both) == [200, 409], [r.text for r in both]
    won = next(r for r in both if r.status_code == 200).json()
    assert won["attended"] is True and won["event_title"] == event["title"]
    r = await scan(code, staff)
    assert r.status_code == 409 and r.json()["type"].endswith("/already-checked-in")
    marks = await published.wait(ev.ATTENDANCE_RECORDED, event_id=eid)
    assert len(marks) == 1 and marks[0]["data"]["user_id"] == "pass-a"


async def test_export_neutralises_formulas(api: Any) -> None:
    event = await api.event(capacity=5)
    names = ['=HYPERLINK("x")', "\t=1+1", "  @SUM(A1)", "+358 40 123"]
    for n, name in enumerate(names):
        r = await api.register(event["id"], f"formula-user-{n}", name=name, group_name="-1+2")
        assert r.status_code == 201, r.text
    r = await api.client.get(f"/events/{event['id']}/registrations.csv", headers=api.auth())
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"), newline="")))[1:]
    assert sorted(row[3] for row in rows) == sorted("'" + name for name in names)
    assert {row[6] for row in rows} == {"'-1+2"}
    r = await api.client.get(f"/events/{event['id']}/registrations.xlsx", headers=api.auth())
    sheet = load_workbook(io.BytesIO(r.content)).active
    cells = [c for row in sheet.iter_rows() for c in row]
    assert "f" not in {c.data_type for c in cells}  # never a formula cell
    shown = {c.value for c in cells}
    assert set(names) <= shown and "-1+2" in shown


async def test_visits_at_an_open_pop_up(api: Any, published: Any) -> None:
    venue = await api.venue(kind="shopping_centre", name={"fi": "Itis"})
    event = await api.event(kind="avaa_tila", registration_required=False, venue_id=venue["id"])
    r = await api.client.post(f"/events/{event['id']}/visits", json={"visits": 57},
                              headers=api.auth())  # fmt: skip
    assert r.status_code == 200 and r.json()["visits"] == 57
    [counted] = await published.wait(ev.VISITS_COUNTED, event_id=event["id"])
    assert counted["data"]["visits"] == 57 and counted["data"]["venue_kind"] == "shopping_centre"
    r = await api.client.post(f"/events/{event['id']}/visits", json={"visits": -1},
                              headers=api.auth())  # fmt: skip
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "visits"


async def test_feedback_once_after_start(api: Any, published: Any, svc: Any) -> None:
    from events import store

    event = await api.event(days=0.02, capacity=5)
    eid = event["id"]
    reg = (await api.register(eid, "fb-user")).json()
    user = api.auth("resident", sub="fb-user")
    r = await api.client.post(f"/registrations/{reg['id']}/feedback", json={"rating": 5},
                              headers=user)  # fmt: skip
    assert r.status_code == 409  # not started yet
    # Let the event have started (moving the clock is not possible; move the event).
    await svc.store.db[store.EVENTS].update_one({"_id": eid}, {"$set": {"starts_at": _past()}})
    r = await api.client.post(f"/registrations/{reg['id']}/feedback", json={"rating": 6},
                              headers=user)  # fmt: skip
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "rating"
    r = await api.client.post(
        f"/registrations/{reg['id']}/feedback", json={"rating": 4, "comment": "Hyvä!"}, headers=user
    )
    assert r.status_code == 201
    [given] = await published.wait(ev.FEEDBACK_GIVEN, event_id=eid)
    assert given["data"]["rating"] == 4 and given["data"]["has_comment"] is True
    assert "comment" not in given["data"]
    r = await api.client.post(f"/registrations/{reg['id']}/feedback", json={"rating": 1},
                              headers=user)  # fmt: skip
    assert r.status_code == 409
    r = await api.client.post(f"/registrations/{reg['id']}/feedback", json={"rating": 1},
                              headers=api.auth())  # fmt: skip
    assert r.status_code == 403  # staff cannot rate for the participant
    r = await api.client.get(f"/events/{eid}/feedback", headers=api.auth())
    assert r.json()["count"] == 1 and r.json()["average"] == 4 and r.json()["comments"] == ["Hyvä!"]
    assert (await api.client.get(f"/events/{eid}/feedback", headers=user)).status_code == 403


def _past() -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) - timedelta(minutes=5)
