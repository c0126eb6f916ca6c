"""Resident journey in headless Chromium against the real platform: browse events (list,
calendar, map of Avaa tila places), sign up, register for a full event and land on the
waiting list, book a workstation from its free slots, see both on my page; fi -> sv."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.async_api import expect

# Generous: the first test also waits for the whole platform to start on a busy machine.
pytestmark = pytest.mark.timeout(900)

HELSINKI_OFFICE = "loc-hki-oodi-uo"


def full_event(api: Any, staff: Any) -> dict[str, Any]:
    """A published event with one seat, taken by someone else."""
    day = date.today() + timedelta(days=2)
    title = f"Täysi työpaja {uuid.uuid4().hex[:6]}"
    event = api.call(
        "POST",
        "/events",
        staff,
        json={
            "kind": "workshop",
            "title": {"fi": title, "en": "Full workshop"},
            "starts_at": f"{day}T12:00:00",
            "ends_at": f"{day}T13:00:00",
            "capacity": 1,
            "venue_id": "ven-hki-oodi",
        },
    )
    api.call("POST", f"/events/{event['id']}/publish", staff)
    other = api.sign_up("Ensimmäinen")
    taken = api.call("POST", f"/events/{event['id']}/registrations", other, json={"seats": 1})
    assert taken["status"] == "confirmed"
    return {**event, "title_fi": title, "other": other}


def day_with_free_workstation(api: Any, user: Any) -> str:
    for ahead in range(1, 8):
        day = (date.today() + timedelta(days=ahead)).isoformat()
        found = api.call(
            "GET",
            f"/locations/{HELSINKI_OFFICE}/availability",
            user,
            params={"from": day, "to": day, "kind": "workstation"},
        )
        desk = [r for r in found["resources"] if r["resource_id"] == "res-hki-desk-1"]
        if desk and desk[0]["slots"]:
            return day
    raise AssertionError("no free workstation slot in the next week")


async def no_horizontal_scroll(page: Any) -> bool:
    return await page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1"
    )


async def test_resident_waits_for_a_full_event_books_a_workstation_and_sees_both(
    platform: Any, api: Any, staff: Any, new_page: Any, shot: Any, axe: Any
) -> None:
    event = full_event(api, staff)
    day = day_with_free_workstation(api, event["other"])
    app = platform.gateway + "/app/"
    page = await new_page()

    # Events: list (seeded demo events), calendar, map of Avaa tila places.
    await page.goto(app)
    await expect(page.locator("h1")).to_have_text("Tapahtumat")
    assert await page.evaluate("document.documentElement.lang") == "fi"
    await expect(page.locator(".event-card").first).to_be_visible()
    await expect(page.get_by_role("link", name=event["title_fi"])).to_be_visible()
    await shot(page, "01-events-list")
    assert await axe(page) == []
    # Keyboard: the first Tab reaches the skip link, which moves focus to the content.
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "skip-link"
    assert (await page.locator("#skip-link").bounding_box())["x"] >= 0
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"

    await page.get_by_role("link", name="Kalenteri").click()
    await expect(page.locator("table.calendar")).to_be_visible()
    await expect(page.locator("table.calendar tbody a").first).to_be_visible()
    await shot(page, "02-events-calendar")
    assert await axe(page) == []

    await page.get_by_role("link", name="Avaa tila -paikat kartalla").click()
    await expect(page.locator("svg.map")).to_be_visible()
    # Seeded Helsinki places with coordinates; the park has an Avaa tila pop-up event.
    assert await page.locator("svg.map g.place").count() >= 4
    assert await page.locator("svg.map g.place.popup").count() >= 1
    await expect(page.locator(".places li.has-popups").first).to_contain_text("Esplanadi")
    await shot(page, "03-events-map")
    assert await axe(page) == []

    # Sign up.
    await page.get_by_role("link", name="Kirjaudu").click()
    await page.get_by_role("link", name="Luo tili").click()
    await expect(page.locator("h1")).to_have_text("Luo tili")
    email = f"asukas-{uuid.uuid4().hex[:8]}@example.fi"
    await page.get_by_label("Nimi").fill("Aino Asukas")
    await page.get_by_label("Sähköposti").fill(email)
    await page.get_by_label("Salasana").fill("kirjasto-Kohtaamo-2026!")
    await page.get_by_label("Hyväksyn käyttöehdot").check()
    await shot(page, "04-sign-up")
    assert await axe(page) == []
    await page.get_by_role("button", name="Luo tili").click()
    await expect(page.locator("h1")).to_have_text("Omat tiedot")

    # The full event: the resident joins its waiting list.
    await page.goto(f"{app}#/events/{event['id']}")
    await expect(page.locator("h1")).to_have_text(event["title_fi"])
    await expect(page.locator(".notice")).to_contain_text("Tapahtuma on täynnä")
    await page.get_by_role("button", name="Liity jonoon").click()
    await expect(page.locator(".reg-status")).to_have_text("Olet jonossa, sijalla 1.")
    ics = page.get_by_role("link", name="Lisää kalenteriin (.ics)")
    assert (await ics.get_attribute("href")).endswith(f"/events/{event['id']}/event.ics?lang=fi")
    await shot(page, "05-event-waiting-list")
    assert await axe(page) == []
    waiting = api.call("GET", f"/events/{event['id']}/registrations", staff)["items"]
    assert [r["status"] for r in waiting if r["name"] == "Aino Asukas"] == ["waitlisted"]

    # Book a workstation from its free slots.
    await (
        page.get_by_role("navigation", name="Päävalikko")
        .get_by_role("link", name="Varaa tila")
        .click()
    )
    await expect(page.locator("h1")).to_have_text("Varaa tila, laite tai mentori")
    await page.get_by_label("Toimipiste").select_option(HELSINKI_OFFICE)
    await page.get_by_label("Mitä").select_option("workstation")
    await page.get_by_label("Päivä").fill(day)
    await page.get_by_role("button", name="Näytä vapaat ajat").click()
    desk = page.locator("section.resource", has_text="Työpiste 1")
    first_slot = desk.locator("button.slot").first
    await expect(first_slot).to_be_visible()
    await shot(page, "06-book-free-slots")
    assert await axe(page) == []
    await first_slot.click()
    await page.get_by_role("button", name="Varaa", exact=True).click()
    await expect(desk.locator(".card.success")).to_contain_text("Varattu: Työpiste 1")
    await shot(page, "07-booked")

    # My page: the waiting-list place and the booking.
    await page.get_by_role("link", name="Omat tiedot").click()
    await expect(page.locator("h1")).to_have_text("Omat tiedot")
    registrations = page.locator("#my-registrations")
    await expect(registrations).to_contain_text(event["title_fi"])
    await expect(registrations).to_contain_text("Olet jonossa, sijalla 1.")
    bookings = page.locator("#my-bookings")
    await expect(bookings).to_contain_text("Työpiste 1")
    await expect(bookings).to_contain_text("Vahvistettu")
    await expect(page.get_by_role("heading", name="Profiili ja osaaminen")).to_be_visible()
    await shot(page, "08-my-page")
    assert await axe(page) == []
    # A consent given here is still given after a reload (stored by identity).
    consent = page.get_by_label("Pseudonyymit ESR-tilastot")
    await consent.check()
    await expect(page.locator("#status")).to_contain_text("Tallennettu.")
    await page.reload()
    await expect(page.get_by_label("Pseudonyymit ESR-tilastot")).to_be_checked()
    async with page.expect_download() as info:
        await page.get_by_role("button", name="Lataa tietoni").click()
    exported = (await (await info.value).path()).read_text(encoding="utf-8")
    assert email in exported

    # Offer help as a peer mentor; the directory finds the offer by skill.
    mentor = page.locator("section.card", has_text="Mentoritarjous")
    await mentor.get_by_label("Voin auttaa aiheissa").fill("Python, CV writing")
    await mentor.get_by_role("button", name="Julkaise tarjoukseni").click()
    await expect(page.locator("#status")).to_contain_text("Mentoritarjouksesi on julkaistu.")
    await page.get_by_role("link", name="Mentorit").click()
    await expect(page.locator("h1")).to_have_text("Kuka voi auttaa minua?")
    await page.get_by_label("Taito tai aihe").fill("python")
    await page.get_by_role("button", name="Näytä", exact=True).click()
    await expect(page.locator("#mentor-list")).to_contain_text("Aino Asukas")
    await shot(page, "09-mentors")
    assert await axe(page) == []
    await page.get_by_role("link", name="Omat tiedot").click()
    await expect(page.locator("h1")).to_have_text("Omat tiedot")

    # Swedish, switched in the header; the page and its language attribute follow.
    await page.get_by_label("Kieli", exact=True).select_option("sv")
    await expect(page.locator("h1")).to_have_text("Mina sidor")
    assert await page.evaluate("document.documentElement.lang") == "sv"
    await expect(page.locator("#my-bookings")).to_contain_text("Bekräftad")
    await shot(page, "10-my-page-sv")

    # A phone screen: one column, nothing wider than the screen.
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.reload()
    await expect(page.locator("#my-bookings")).to_contain_text("Bekräftad")
    assert await no_horizontal_scroll(page)
    await shot(page, "10-my-page-sv-phone")
    assert await axe(page) == []

    # Cancelling the booking (in Swedish, on the phone, confirmed) empties the list.
    page.once("dialog", lambda dialog: dialog.accept())
    await page.locator("#my-bookings").get_by_role("button", name="Avboka").click()
    await expect(page.locator("#status")).to_contain_text("Bokningen avbokad.")
    await expect(page.locator("section.card", has_text="Mina bokningar")).to_contain_text(
        "Inga bokningar."
    )
