"""The space details page (LibCal/Varaamo-like), in headless Chromium against the real
platform: the place's photo, description, address with a map link, accessibility and
opening hours; each space's capacity, equipment, accessibility, price or free and terms;
and the day's grid across its spaces with a booked time shown as taken, at desktop and
phone size (nothing wider than the screen), axe-clean."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.timeout(600)

HEL = ZoneInfo("Europe/Helsinki")
WEEKDAYS = {str(d): [{"opens": "09:00", "closes": "17:00"}] for d in range(5)}


async def test_space_details_page(
    platform: Any, api: Any, staff: Any, new_page: Any, shot: Any, axe: Any, ui_text: Any,
    log_in: Any,
) -> None:  # fmt: skip
    text = ui_text["fi"]
    app = platform.gateway + "/app/"
    tag = uuid.uuid4().hex[:4]
    place = api.call(
        "POST",
        "/locations",
        staff,
        json={
            "name": {"fi": f"Kallion kirjasto {tag}"},
            "address": "Viides linja 11, 00530 Helsinki",
            "description": {"fi": "Ryhmätiloja ja studio kirjaston toisessa kerroksessa."},
            "accessibility": ["Hissi toiseen kerrokseen", "Esteetön WC"],
            "image": {"src": "/app/img/space.svg", "alt": {"fi": "Piirros ryhmätilasta"}},
            "hours": {"weekly": WEEKDAYS},
        },
    )
    room = api.call(
        "POST",
        "/resources",
        staff,
        json={
            "location_id": place["id"],
            "kind": "meeting_room",
            "name": {"fi": f"Ryhmätila Kivi {tag}"},
            "capacity": 8,
            "equipment": ["Näyttö ja HDMI", "Valkotaulu"],
            "accessibility": ["Induktiosilmukka"],
            "price": {"free": True},
            "terms": {"fi": "Ruoka ja juoma vain kannellisissa astioissa."},
            "rules": {"slot_minutes": 60, "min_minutes": 60, "max_minutes": 120,
                      "approval_required": True, "cancel_deadline_minutes": 120},
        },
    )  # fmt: skip
    studio = api.call(
        "POST",
        "/resources",
        staff,
        json={
            "location_id": place["id"],
            "kind": "studio",
            "name": {"fi": f"Studio Sointi {tag}"},
            "price": {"free": False, "amount": 5, "per": "hour"},
            "rules": {"slot_minutes": 60, "min_minutes": 60, "max_minutes": 120, "min_age": 15},
        },
    )
    # Next Monday 10-11 the studio is booked (staff on behalf of someone).
    now = datetime.now(HEL)
    monday = (now + timedelta(days=7 - now.weekday())).date()
    person = api.sign_up("Sointu")
    api.call(
        "POST",
        "/bookings",
        staff,
        json={"resource_id": studio["id"], "starts_at": f"{monday}T10:00:00",
              "ends_at": f"{monday}T11:00:00", "user_id": person.id},
    )  # fmt: skip
    resident = api.sign_up("Tilojen katsoja")

    for width, height, size in ((1280, 800, "desktop"), (390, 844, "phone")):
        page = await new_page(width=width, height=height)
        await log_in(page, app, resident.email)
        # From the booking page, the place's own page.
        await page.goto(app + "#/book")
        await page.get_by_label(text["book.location"]).select_option(place["id"])
        await page.get_by_role("link", name=text["space.about"]).click()
        await expect(page.locator("h1")).to_have_text(f"Kallion kirjasto {tag}")
        photo = page.locator("img.space-photo")
        await expect(photo).to_have_attribute("alt", "Piirros ryhmätilasta")
        assert await photo.evaluate("(img) => img.complete && img.naturalWidth > 0")
        await expect(page.locator("main")).to_contain_text("toisessa kerroksessa")
        map_link = page.get_by_role("link", name=text["space.map"])
        href = await map_link.get_attribute("href")
        assert href and parse_qs(urlsplit(href).query)["query"] == [place["address"]]
        await expect(page.locator("main")).to_contain_text("Esteetön WC")
        hours = page.locator("table.hours")
        await expect(hours.locator("tr")).to_have_count(7)
        await expect(hours.locator("tr").nth(0)).to_contain_text("9.00\u201317.00")
        await expect(hours.locator("tr").nth(6)).to_contain_text(text["space.closed"])

        kivi = page.locator("section.space", has_text=f"Ryhmätila Kivi {tag}")
        for fact in ("8", "Näyttö ja HDMI", "Valkotaulu", "Induktiosilmukka", text["space.free"],
                     text["space.termApproval"], "kannellisissa astioissa"):  # fmt: skip
            await expect(kivi).to_contain_text(fact)
        sointi = page.locator("section.space", has_text=f"Studio Sointi {tag}")
        await expect(sointi).to_contain_text("5,00")
        await expect(sointi).to_contain_text(text["book.ageLimit"].replace("{age}", "15"))

        # The day grid: Monday's booked hour is taken, the room's free cell opens booking.
        await page.get_by_label(text["book.date"]).fill(monday.isoformat())
        await page.get_by_role("button", name=text["space.showDay"]).click()
        grid = page.locator(".day-grid table")
        studio_row = grid.locator("tbody tr", has_text=f"Studio Sointi {tag}")
        await expect(studio_row.locator(".grid-taken")).to_have_count(1)
        await expect(studio_row.locator("button.grid-free")).to_have_count(7)
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
        await shot(page, f"space-details-{size}")
        assert await axe(page) == []
        room_row = grid.locator("tbody tr", has_text=f"Ryhmätila Kivi {tag}")
        await room_row.locator("button.grid-free").first.click()
        await expect(page.locator("h1")).to_have_text(text["book.title"])
        await expect(page.locator(f"section.resource h2#res-{room['id']}")).to_be_visible()
        await expect(page.get_by_label(text["book.date"])).to_have_value(monday.isoformat())
