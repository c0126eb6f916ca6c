"""Staff and dashboard journeys in headless Chromium against the real platform: require
approval for a room and approve a booking of it, see the day's bookings, block a
resource, publish an event and check people in (by row and by code); the dashboard
shows charts and downloads an export."""

from __future__ import annotations

import time
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import expect

# Generous: the first test also waits for the whole platform to start on a busy machine.
pytestmark = pytest.mark.timeout(900)

OFFICE = "loc-hki-oodi-uo"
ROOM = "res-hki-room-a"


async def log_in(page: Any, app: str, email: str) -> None:
    await page.goto(app + "#/login")
    await page.get_by_label("Kunta").select_option("helsinki")
    await page.get_by_label("Sähköposti").fill(email)
    await page.get_by_label("Salasana").fill("kirjasto-Kohtaamo-2026!")
    await page.get_by_role("button", name="Kirjaudu", exact=True).click()
    await expect(page.locator("h1")).to_have_text("Omat tiedot")


def free_room_slot(api: Any, user: Any) -> dict[str, str]:
    for ahead in range(1, 8):
        day = (date.today() + timedelta(days=ahead)).isoformat()
        found = api.call(
            "GET", f"/resources/{ROOM}/availability", user, params={"from": day, "to": day}
        )
        if found["slots"]:
            return {"day": day, **found["slots"][0]}
    raise AssertionError("Room A has no free slot in the next week")


async def test_staff_manage_bookings_resources_and_check_people_in(
    platform: Any, api: Any, staff: Any, new_page: Any, shot: Any, axe: Any
) -> None:
    app = platform.gateway + "/app/"
    page = await new_page()
    await log_in(page, app, staff.email)
    nav = page.get_by_role("navigation", name="Päävalikko")
    await expect(nav.get_by_role("link", name="Henkilökunnalle")).to_be_visible()
    await expect(nav.get_by_role("link", name="Tilastot")).to_be_visible()

    # Resources: Room A now needs approval.
    await page.goto(app + "#/staff/resources")
    room = page.locator("li.row", has_text="Neuvotteluhuone A")
    await room.get_by_label("Vaatii hyväksynnän").check()
    await room.get_by_role("button", name="Tallenna").click()
    await expect(page.locator("#status")).to_contain_text("Tallennettu.")
    assert api.call("GET", f"/resources/{ROOM}", staff)["rules"]["approval_required"] is True
    # Opening hours: the office closes at 17 on Saturdays from now on.
    hours = page.locator("section.card", has_text="Aukioloajat")
    await hours.get_by_label("Toimipiste").select_option(OFFICE)
    await hours.get_by_label("Lauantai Sulkeutuu").fill("17:00")
    await expect(page.locator("#status")).to_be_empty(timeout=20_000)  # the room's message
    await hours.get_by_role("button", name="Tallenna").click()
    await expect(page.locator("#status")).to_contain_text("Tallennettu.")
    saturday = api.call("GET", f"/locations/{OFFICE}", staff)["hours"]["weekly"]["5"]
    assert [p["closes"][:5] for p in saturday] == ["17:00"]
    await shot(page, "11-staff-resources")
    assert await axe(page) == []

    # A resident asks for the room; staff approve it, and it is on that day's list.
    resident = api.sign_up("Vuokraaja")
    slot = free_room_slot(api, resident)
    asked = api.call(
        "POST",
        "/bookings",
        resident,
        json={
            "resource_id": ROOM,
            "starts_at": slot["starts_at"],
            "ends_at": slot["ends_at"],
            "people": 3,
        },
    )
    assert asked["status"] == "pending"
    await page.goto(app + "#/staff/bookings")
    pending = page.locator("#pending-bookings li.row", has_text="Neuvotteluhuone A")
    await expect(pending).to_have_count(1)
    # Who asked and for how many people.
    await expect(pending.locator(".requester")).to_contain_text("Vuokraaja")
    await expect(pending.locator(".requester")).to_contain_text(resident.email)
    await expect(pending.locator(".party")).to_have_text("Henkilöitä: 3")
    await shot(page, "12-staff-bookings")
    assert await axe(page) == []
    await pending.get_by_role("button", name="Hyväksy").click()
    await expect(page.locator("#status")).to_contain_text("Varaus hyväksytty.")
    assert api.call("GET", f"/bookings/{asked['id']}", staff)["status"] == "confirmed"
    await expect(
        page.locator("#pending-bookings li.row", has_text="Neuvotteluhuone A")
    ).to_have_count(0)
    day_card = page.locator("section.card", has_text="Päivän varaukset")
    await day_card.get_by_label("Toimipiste").select_option(OFFICE)
    await day_card.get_by_label("Päivä").fill(slot["day"])
    await day_card.get_by_role("button", name="Näytä").click()
    await expect(page.locator("#day-bookings")).to_contain_text("Neuvotteluhuone A")
    await expect(page.locator("#day-bookings")).to_contain_text("Vahvistettu")

    # Another request for the room is denied, with a reason.
    end = datetime.fromisoformat(slot["ends_at"])  # past the room's 15-minute buffer
    later = {
        "starts_at": (end + timedelta(minutes=60)).isoformat(),
        "ends_at": (end + timedelta(minutes=90)).isoformat(),
    }
    second = api.call("POST", "/bookings", resident, json={"resource_id": ROOM, **later})
    assert second["status"] == "pending"
    # This one on a phone: who asked and for how many, the buttons within the screen.
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.reload()
    pending = page.locator("#pending-bookings li.row", has_text="Neuvotteluhuone A")
    await expect(pending.locator(".requester")).to_contain_text(resident.email)
    await expect(pending.locator(".party")).to_have_text("Henkilöitä: 1")
    deny = pending.get_by_role("button", name="Hylkää")
    box = await deny.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert await page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1"
    )
    await shot(page, "12-staff-bookings-phone")
    assert await axe(page) == []
    await pending.get_by_label("Hylkäyksen syy").fill("Tila on varattu tapahtumalle")
    await deny.click()
    await expect(page.locator("#status")).to_contain_text("Varaus hylätty.")
    await page.set_viewport_size({"width": 1280, "height": 900})
    denied = api.call("GET", f"/bookings/{second['id']}", staff)
    assert (denied["status"], denied["reason"]) == ("denied", "Tila on varattu tapahtumalle")

    # Block workstation 2 for an hour the day after tomorrow.
    block_day = (date.today() + timedelta(days=2)).isoformat()
    block = page.locator("section.card", has_text="Estä resurssi")
    await block.get_by_label("Resurssi").select_option("res-hki-desk-2")
    await block.get_by_label("Alkaa").fill(f"{block_day}T07:00")
    await block.get_by_label("Päättyy").fill(f"{block_day}T08:00")
    await block.get_by_label("Syy").fill("Huolto")
    await block.get_by_role("button", name="Estä", exact=True).click()
    await expect(page.locator("#status")).to_contain_text("Resurssi estetty.")
    blocks = api.call("GET", f"/locations/{OFFICE}/day", staff, params={"date": block_day})
    assert [b["reason"] for b in blocks["blocks"]] == ["Huolto"], blocks

    # Publish an event from the console.
    title = f"Kirjastoilta {uuid.uuid4().hex[:6]}"
    when = (date.today() + timedelta(days=3)).isoformat()
    await page.goto(app + "#/staff/events")
    await page.get_by_label("Otsikko suomeksi").fill(title)
    await page.get_by_label("Otsikko englanniksi").fill("Library evening")
    await page.locator("select[name=venue_id]").select_option("ven-hki-kallio")
    await page.get_by_label("Alkaa").fill(f"{when}T17:00")
    await page.get_by_label("Päättyy").fill(f"{when}T19:00")
    await page.get_by_label("Paikkamäärä").fill("10")
    await shot(page, "13-staff-new-event")
    assert await axe(page) == []
    await page.get_by_role("button", name="Julkaise", exact=True).click()
    upcoming = page.locator("section.card", has_text="Tulevat julkaistut tapahtumat")
    await expect(upcoming.get_by_role("link", name=title)).to_be_visible()
    [made] = api.call("GET", "/events", params={"q": title})["items"]
    assert made["status"] == "published" and made["capacity"] == 10

    # A weekly series of two, saved as drafts.
    series_title = f"Sarja {uuid.uuid4().hex[:6]}"
    await page.get_by_label("Otsikko suomeksi").fill(series_title)
    await page.get_by_label("Alkaa").fill(f"{when}T10:00")
    await page.get_by_label("Päättyy").fill(f"{when}T11:00")
    await page.get_by_label("Kertoja (viikoittain)").fill("2")
    await page.get_by_role("button", name="Tallenna luonnoksena").click()
    drafts = page.locator("section.card", has_text="Luonnokset")
    await expect(drafts.get_by_role("link", name=series_title)).to_have_count(2)

    # Two residents register; staff check one in by the list and one by code.
    people = [api.sign_up(name) for name in ("Bertta", "Cecilia")]
    regs = [
        api.call("POST", f"/events/{made['id']}/registrations", p, json={"name": n})
        for p, n in zip(people, ("Bertta", "Cecilia"), strict=True)
    ]
    await page.reload()
    row = page.locator("li.row", has_text=title)
    await row.get_by_role("link", name="Osallistujalista").click()
    await expect(page.locator("h1")).to_contain_text(title)
    table = page.locator("#checkin-table")
    await expect(table.locator("tbody tr")).to_have_count(2)
    await table.get_by_role("button", name="Merkitse paikalle: Bertta").click()
    await expect(table.get_by_role("button", name="Peru saapuminen: Bertta")).to_be_visible()
    await page.get_by_label("Osallistujan koodi").fill(regs[1]["code"])
    await page.get_by_role("button", name="Kirjaa koodilla").click()
    await expect(table.get_by_role("button", name="Peru saapuminen: Cecilia")).to_be_visible()
    await expect(page.locator("main")).to_contain_text("2 saapunut")
    await shot(page, "14-staff-check-in")
    assert await axe(page) == []

    # On a phone each registration is a card with labelled fields, nothing cut off; a
    # checked-in row says so, and its button says what it undoes.
    await page.set_viewport_size({"width": 390, "height": 844})
    bertta = table.locator("tbody tr", has_text="Bertta")
    await expect(bertta).to_contain_text("Saapunut ✓")
    undo = bertta.get_by_role("button", name="Peru saapuminen: Bertta")
    await expect(undo).to_have_text("Peru saapuminen")
    box = await undo.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert await page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1"
    )
    await undo.click()
    await expect(bertta.get_by_role("button", name="Merkitse paikalle: Bertta")).to_be_visible()
    await shot(page, "14-staff-check-in-phone")
    assert await axe(page) == []
    await bertta.get_by_role("button", name="Merkitse paikalle: Bertta").click()
    await expect(bertta).to_contain_text("Saapunut ✓")
    await page.set_viewport_size({"width": 1280, "height": 900})
    listed = api.call("GET", f"/events/{made['id']}/registrations", staff)["items"]
    assert sorted((r["name"], r["attended"]) for r in listed) == [
        ("Bertta", True),
        ("Cecilia", True),
    ]


def five_attendances(api: Any, staff: Any) -> date:
    """A published workshop that five people attended (five: the smallest count shown)."""
    day = date.today() + timedelta(days=1)
    event = api.call(
        "POST",
        "/events",
        staff,
        json={
            "kind": "workshop",
            "title": {"fi": f"Tilastopaja {uuid.uuid4().hex[:6]}"},
            "starts_at": f"{day}T10:00:00",
            "ends_at": f"{day}T12:00:00",
            "capacity": 20,
        },
    )
    api.call("POST", f"/events/{event['id']}/publish", staff)
    for i in range(5):
        person = api.sign_up(f"Osallistuja{i}")
        reg = api.call("POST", f"/events/{event['id']}/registrations", person, json={})
        api.call(
            "POST", f"/events/{event['id']}/attendance", staff, json={"registration_id": reg["id"]}
        )
    return day


async def test_dashboard_shows_charts_and_downloads_an_export(
    platform: Any, api: Any, staff: Any, new_page: Any, shot: Any, axe: Any
) -> None:
    day = five_attendances(api, staff)
    app = platform.gateway + "/app/"
    page = await new_page()
    await log_in(page, app, staff.email)
    await page.goto(app + "#/dashboard")
    await expect(page.locator("h1")).to_have_text("Tilastot")
    await page.get_by_label("Jakso").fill(str(day.year))
    await page.get_by_role("button", name="Näytä", exact=True).click()
    await expect(page.locator(".kpi").first).to_be_visible()
    chart = page.locator("figure.chart-card", has_text="Osallistumiset tapahtumatyypeittäin")
    # Analytics learns of the attendances from the events service's messages.
    workshop = chart.locator("svg.chart g", has_text="Työpaja")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if await workshop.count() and float(
            await workshop.locator("rect").get_attribute("width") or 0
        ):
            break
        await page.wait_for_timeout(2000)
        await page.reload()
        await expect(page.locator("h1")).to_have_text("Tilastot")
    assert float(await workshop.locator("rect").get_attribute("width") or 0) > 0
    shown = await workshop.locator("text.chart-value").text_content() or "0"
    assert int(shown) >= 5  # these five, and any from the other journeys of this run
    # The same figures as a table for screen readers and keyboard users.
    rows = await chart.locator("svg.chart g").count()
    await chart.locator("summary").click()
    await expect(chart.locator("table tbody tr")).to_have_count(rows)
    await expect(chart.locator("table tbody tr", has_text="Työpaja").locator("td")).to_have_text(
        shown
    )
    await shot(page, "15-dashboard")
    assert await axe(page) == []

    async with page.expect_download() as info:
        await page.get_by_role("button", name="Tapahtumat ja osallistuminen CSV").click()
    download = await info.value
    assert download.suggested_filename.startswith("kohtaamo-usage-helsinki-")
    path = await download.path()
    text = path.read_text(encoding="utf-8-sig")
    assert "," in text.splitlines()[0]
