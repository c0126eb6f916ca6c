"""Booking paths without dead ends, in headless Chromium against the real platform: a
closed day offers the next open day, the 15+ studio asks for the birth date and is
booked, a booked time shows as taken, mentor hours are booked from the mentor's card, a
cancellation asks first; and 2,000-character names keep the page the screen's width at
desktop and phone size."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.timeout(900)

OFFICE = "loc-hki-oodi-uo"
MEDIAMAJA = "loc-hki-oodi-mm"
STUDIO = "res-hki-studio"
# As long as a name may be (200 characters, kit.requests), with no place to break.
LONG = "Kirjastotalo" * 16 + "Oodi" + "x" * 4
# A description of 2,000 characters with no place to break either.
LONG_TEXT = ("Kirjastotalo" * 167)[:2000]


SIZES = ((1280, 800, "desktop"), (390, 844, "phone"))


async def hold(page: Any, pattern: str, method: str | None = None) -> asyncio.Event:
    """Requests to `pattern` (of `method`) wait until the returned event is set: a slow
    network, held for exactly as long as the test looks at the page meanwhile."""
    release = asyncio.Event()

    async def held(route: Any) -> None:
        if method is None or route.request.method == method:
            await release.wait()
        await route.continue_()

    await page.route(pattern, held)
    return release


def next_sunday() -> date:
    day = date.today() + timedelta(days=1)
    return day + timedelta(days=(6 - day.weekday()) % 7)


async def test_booking_paths_end_in_a_booking_or_a_next_step(
    platform: Any,
    api: Any,
    staff: Any,
    new_page: Any,
    shot: Any,
    axe: Any,
    ui_text: Any,
    log_in: Any,
    wider_than_the_screen: Any,
) -> None:
    text = ui_text["fi"]
    app = platform.gateway + "/app/"
    for (width, height, size), mentor_name in zip(
        SIZES, ("Maija Mentori", "Matti Mentori"), strict=True
    ):
        hours_name = f"Vastaanotto {mentor_name} {uuid.uuid4().hex[:4]}"
        resident = api.sign_up("Varaaja")
        mentor = api.sign_up(mentor_name)
        api.call(
            "PUT",
            "/me/mentor-offer",
            mentor,
            json={"topics": [{"skill": "podcast"}], "languages": ["fi"], "bio": "Äänitys"},
        )
        hours = api.call(
            "POST",
            "/resources",
            staff,
            json={
                "location_id": OFFICE,
                "kind": "mentor_hours",
                "name": {"fi": hours_name},
                "mentor_user_id": mentor.id,
                "rules": {"slot_minutes": 30, "min_minutes": 30, "max_minutes": 60},
            },
        )
        page = await new_page(width=width, height=height)
        await log_in(page, app, resident.email)
        requests: list[str] = []
        page.on(
            "request", lambda r, seen=requests: seen.append(f"{r.method} {urlsplit(r.url).path}")
        )

        # A slow answer: the page says it is loading (and is busy) until the answer comes.
        locations_answered = await hold(page, "**/api/v1/locations")
        await page.goto(app + "#/book")
        await expect(page.locator("main")).to_have_attribute("aria-busy", "true")
        await expect(page.locator("main .loading")).to_have_text(text["loading"])
        await shot(page, f"book-loading-{size}")
        locations_answered.set()
        await expect(page.locator("h1")).to_have_text(text["book.title"])
        await expect(page.locator("main")).not_to_have_attribute("aria-busy", "true")
        await page.unroute("**/api/v1/locations")

        # A closed day says so and offers the next open day, which then shows its times.
        sunday = next_sunday()
        await page.get_by_label(text["book.location"]).select_option(MEDIAMAJA)
        await page.get_by_label(text["book.kind"]).select_option("studio")
        await page.get_by_label(text["book.date"]).fill(sunday.isoformat())
        await page.get_by_role("button", name=text["book.search"]).click()
        studio = page.locator("section.resource", has=page.locator(f"h2#res-{STUDIO}"))
        await expect(studio.locator(".closed")).to_contain_text(text["book.closed"])
        await shot(page, f"book-closed-day-{size}")
        assert await axe(page) == []
        await studio.locator(".closed button").click()
        monday = (sunday + timedelta(days=1)).isoformat()
        await expect(page.get_by_label(text["book.date"])).to_have_value(monday)
        first_free = studio.locator("button.slot").first
        await expect(first_free).to_be_visible()

        # The studio is 15+: the form asks for the birth date, and the booking goes through.
        at = await first_free.get_attribute("data-at")
        await first_free.click()
        birthdate = studio.get_by_label(text["book.birthdate"])
        await expect(birthdate).to_be_visible()
        await birthdate.fill("2000-05-05")
        await shot(page, f"book-studio-birthdate-{size}")
        assert await axe(page) == []
        # A slow network: the form is busy and its button disabled while the booking is on
        # its way, so a second submit sends nothing.
        booked = await hold(page, "**/api/v1/bookings", method="POST")
        confirm = studio.get_by_role("button", name=text["book.confirm"], exact=True)
        await confirm.click()
        form = studio.locator("form.booking-form")
        await expect(form).to_have_attribute("aria-busy", "true")
        await expect(confirm).to_be_disabled()
        await form.evaluate("(f) => f.requestSubmit()")
        await confirm.click(force=True)
        booked.set()
        await expect(studio.locator(".card.success")).to_contain_text("Äänitysstudio")
        await page.unroute("**/api/v1/bookings")
        assert requests.count("POST /api/v1/bookings") == 1, requests
        assert api.call("GET", "/me", api.log_in(resident))["birthdate"] == "2000-05-05"
        # At once, without a new search, that time is taken in the list and in the day grid.
        grid = page.locator(".day-grid table")
        studio_row = grid.locator("tbody tr", has_text="Äänitysstudio")
        booked_here = f'[data-resource="{STUDIO}"][data-at="{at}"]'
        await expect(page.locator(booked_here)).to_have_count(0)
        await expect(studio.locator(".slot.taken").first).to_be_visible()
        await expect(studio_row.locator(".grid-taken").first).to_be_visible()
        await shot(page, f"book-taken-at-once-{size}")

        # Searching again shows that time as taken, not missing.
        await page.get_by_role("button", name=text["book.search"]).click()
        await expect(studio.locator("button.slot").first).to_be_visible()
        await expect(page.locator(booked_here)).to_have_count(0)
        await expect(studio.locator(".slot.taken").first).to_be_visible()
        # The day grid across the location's studios shows the same taken time, and a free
        # cell opens that studio's booking form.
        await expect(studio_row.locator(".grid-taken").first).to_be_visible()
        other_row = grid.locator("tbody tr").filter(has_not_text="Äänitysstudio").first
        await other_row.locator("button.grid-free").first.click()
        await expect(page.locator("form.booking-form")).to_have_count(1)
        await expect(
            page.locator("section.resource", has=page.locator("form.booking-form")).locator("h2")
        ).not_to_have_text("Äänitysstudio")
        assert await wider_than_the_screen(page) == []  # the grid scrolls inside its box
        await shot(page, f"book-taken-slot-{size}")
        assert await axe(page) == []

        # Mentor hours from the mentor's card: only that mentor's hours, booked directly.
        await page.goto(app + "#/mentors?skill=podcast")
        card = page.locator("#mentor-list li", has_text=mentor_name)
        await card.get_by_role("link", name=f"Varaa aika: {mentor_name}").click()
        await expect(page.locator("section.resource")).to_have_count(1)
        office_hours = page.locator("section.resource", has=page.locator(f"h2#res-{hours['id']}"))
        await office_hours.locator("button.slot").first.click()
        await office_hours.get_by_role("button", name=text["book.confirm"], exact=True).click()
        await expect(office_hours.locator(".card.success")).to_contain_text(hours_name)
        await shot(page, f"book-mentor-hours-{size}")
        assert await wider_than_the_screen(page) == []

        # Cancelling asks first: declining keeps the booking, accepting cancels it.
        await page.goto(app + "#/me")
        mine = page.locator("#my-bookings li", has_text=hours_name)
        await expect(mine).to_have_count(1)
        page.once("dialog", lambda dialog: dialog.dismiss())
        await mine.get_by_role("button", name=text["me.cancelBooking"]).click()
        await expect(mine).to_have_count(1)
        page.once("dialog", lambda dialog: dialog.accept())
        await mine.get_by_role("button", name=text["me.cancelBooking"]).click()
        await expect(page.locator("#status")).to_contain_text(text["me.bookingCancelled"])
        await expect(mine).to_have_count(0)


async def test_long_names_wrap_and_keep_the_page_the_screens_width(
    platform: Any,
    api: Any,
    staff: Any,
    new_page: Any,
    shot: Any,
    axe: Any,
    ui_text: Any,
    log_in: Any,
    wider_than_the_screen: Any,
) -> None:
    text = ui_text["fi"]
    app = platform.gateway + "/app/"
    weekly = {str(d): [{"opens": "00:00", "closes": "23:59"}] for d in range(7)}
    place = api.call(
        "POST",
        "/locations",
        staff,
        json={"name": {"fi": LONG}, "hours": {"weekly": weekly}, "address": "Töölönlahdenkatu 4"},
    )
    api.call(
        "POST",
        "/resources",
        staff,
        json={
            "location_id": place["id"],
            "kind": "workstation",
            "name": {"fi": LONG},
            "description": {"fi": LONG_TEXT},
            "equipment": [LONG],
        },
    )
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    event = api.call(
        "POST",
        "/events",
        staff,
        json={
            "kind": "workshop",
            "title": {"fi": LONG},
            "description": {"fi": LONG_TEXT},
            "starts_at": f"{tomorrow}T12:00:00",
            "ends_at": f"{tomorrow}T13:00:00",
            "venue_id": "ven-hki-oodi",
        },
    )
    api.call("POST", f"/events/{event['id']}/publish", staff)
    resident = api.sign_up("Pitkä")

    for width, height, size in ((1280, 800, "desktop"), (390, 844, "phone")):
        page = await new_page(width=width, height=height)
        await log_in(page, app, resident.email)
        await page.goto(app + "#/book")
        await page.get_by_label(text["book.location"]).select_option(place["id"])
        await page.get_by_label(text["book.date"]).fill(tomorrow)
        await page.get_by_role("button", name=text["book.search"]).click()
        block = page.locator("section.resource").first
        # The full name is there (wrapped), not cut away.
        await expect(block.locator("h2")).to_have_text(LONG)
        await expect(block).to_contain_text(LONG_TEXT)
        await block.locator("button.slot").first.click()
        await expect(
            block.get_by_role("button", name=text["book.confirm"], exact=True)
        ).to_be_visible()
        assert await wider_than_the_screen(page) == [], size
        await shot(page, f"long-name-book-{size}")
        assert await axe(page) == []

        await page.goto(app + "#/events?q=Kirjastotalo")
        await expect(page.locator(".event-card a", has_text=LONG[:40])).to_have_count(1)
        assert await wider_than_the_screen(page) == [], size
        await page.goto(app + f"#/events/{event['id']}")
        await expect(page.locator("h1")).to_have_text(LONG)
        await expect(page.locator("main")).to_contain_text(LONG_TEXT)
        assert await wider_than_the_screen(page) == [], size
        await shot(page, f"long-name-event-{size}")


async def test_event_details_paging_and_calendar_links(
    platform: Any,
    api: Any,
    staff: Any,
    new_page: Any,
    shot: Any,
    axe: Any,
    ui_text: Any,
    wider_than_the_screen: Any,
) -> None:
    text = ui_text["fi"]
    app = platform.gateway + "/app/"
    tag = f"Sivutus{uuid.uuid4().hex[:6]}"
    day = date.today() + timedelta(days=20)

    def course(n: int) -> dict[str, Any]:
        return {
            "kind": "course",
            "title": {"fi": f"{tag} kurssi {n:02d}"},
            "starts_at": f"{day}T{8 + n % 12:02d}:00:00",
            "ends_at": f"{day}T{9 + n % 12:02d}:00:00",
            "venue_id": "ven-hki-oodi",
            "languages": ["fi", "en"],
            "price": {"free": False, "amount": 5, "currency": "EUR"},
        }

    # one more than a phone's page
    api.call("POST", "/events/import", staff, json={"events": [course(n) for n in range(21)]})
    page = await new_page(width=390, height=844)

    # Results count and paging: 20 on a phone's first page, the 21st on the next.
    await page.goto(app + f"#/events?q={tag}&from={day}")
    await expect(page.locator(".results-count")).to_have_text(
        text["events.showing"].replace("{first}", "1").replace("{last}", "20")
    )
    await expect(page.locator(".event-card")).to_have_count(20)
    await shot(page, "events-paging-phone")
    assert await axe(page) == []
    await page.get_by_role("link", name=text["events.next"]).click()
    await expect(page.locator(".event-card")).to_have_count(1)
    await expect(page.locator(".results-count")).to_have_text(
        text["events.showing"].replace("{first}", "21").replace("{last}", "21")
    )
    await expect(page.get_by_role("link", name=text["events.previous"])).to_be_visible()

    # One event: price, languages by name, address with a map link, accessibility, and
    # calendar links filled from the event.
    await page.locator(".event-card a").first.click()
    await expect(page.locator("h1")).to_contain_text(tag)
    facts = page.locator("dl.facts")
    await expect(facts).to_contain_text("5,00")
    await expect(facts).to_contain_text("suomi, englanti")
    await expect(facts).to_contain_text("Töölönlahdenkatu 4, 00100 Helsinki")
    await expect(facts).to_contain_text("Esteetön sisäänkäynti")
    osm = facts.get_by_role("link", name=text["event.onMap"])
    assert "openstreetmap.org/?mlat=60.1738&mlon=24.9381" in await osm.get_attribute("href")
    google = await page.get_by_role("link", name=text["event.addToGoogle"]).get_attribute("href")
    assert google.startswith("https://calendar.google.com/calendar/render?action=TEMPLATE")
    assert tag in google and "Helsinki" in google
    outlook = await page.get_by_role("link", name=text["event.addToOutlook"]).get_attribute("href")
    assert outlook.startswith("https://outlook.live.com/calendar/0/deeplink/compose?")
    assert await wider_than_the_screen(page) == []
    await shot(page, "event-details-phone")
    assert await axe(page) == []

    # At desktop size 50 a page: with 51 matching, the 51st is on the next page; the
    # event's calendar links are there too.
    more = [course(n) for n in range(21, 51)]
    api.call("POST", "/events/import", staff, json={"events": more})
    desk = await new_page(width=1280, height=800)
    await desk.goto(app + f"#/events?q={tag}&from={day}")
    await expect(desk.locator(".event-card")).to_have_count(50)
    await expect(desk.locator(".results-count")).to_have_text(
        text["events.showing"].replace("{first}", "1").replace("{last}", "50")
    )
    await shot(desk, "events-paging-desktop")
    await desk.get_by_role("link", name=text["events.next"]).click()
    await expect(desk.locator(".event-card")).to_have_count(1)
    await expect(desk.locator(".results-count")).to_have_text(
        text["events.showing"].replace("{first}", "51").replace("{last}", "51")
    )
    await desk.locator(".event-card a").first.click()
    await expect(desk.locator("h1")).to_contain_text(tag)
    for name in ("event.addToGoogle", "event.addToOutlook"):
        await expect(desk.get_by_role("link", name=text[name])).to_have_attribute(
            "href", re.compile(r"^https://(calendar\.google|outlook\.live)\.com/")
        )
    assert await wider_than_the_screen(desk) == []
    await shot(desk, "event-details-desktop")
    assert await axe(desk) == []
