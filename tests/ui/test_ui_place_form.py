"""Staff say what a place's page and its spaces' cards show, in headless Chromium against
the real platform: address (with the map link), description, accessibility and photo of a
place, and a space's size, equipment, price and terms. A wrong photo address marks its
field; a change someone else saved in between (If-Match, 412) is said and their version
shown; the place's page then shows the saved details. At desktop and phone size, axe-clean."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.timeout(600)

WEEKDAYS = {str(d): [{"opens": "09:00", "closes": "17:00"}] for d in range(5)}


async def saves(page: Any, form: Any, path: str, label: str) -> None:
    """Clicks the form's save and waits for its PATCH to be answered 200 (a toast of an
    earlier save may still be on the screen, so the toast alone does not say it is done)."""
    async with page.expect_response(
        lambda r: r.request.method == "PATCH" and r.url.endswith("/api/v1" + path)
    ) as answer:
        await form.get_by_role("button", name=label).click()
    assert (await answer.value).status == 200


async def test_staff_edit_a_place_and_its_spaces(
    platform: Any, api: Any, staff: Any, new_page: Any, shot: Any, axe: Any, ui_text: Any,
    log_in: Any, wider_than_the_screen: Any,
) -> None:  # fmt: skip
    text = ui_text["fi"]
    app = platform.gateway + "/app/"
    tag = uuid.uuid4().hex[:4]
    place = api.call(
        "POST", "/locations", staff,
        json={"name": {"fi": f"Töölön kirjasto {tag}"}, "hours": {"weekly": WEEKDAYS}},
    )  # fmt: skip
    room = api.call(
        "POST", "/resources", staff,
        json={"location_id": place["id"], "kind": "meeting_room", "name": {"fi": f"Lukusali {tag}"},
              "rules": {"slot_minutes": 60, "min_minutes": 60, "max_minutes": 120}},
    )  # fmt: skip

    page = await new_page(width=1280, height=800)
    await log_in(page, app, staff.email)
    await page.goto(app + "#/staff/resources")
    card = page.locator(
        "section.card", has=page.get_by_role("heading", name=text["places.placeTitle"])
    )
    form = card.locator("form")
    await form.get_by_label(text["book.location"]).select_option(place["id"])
    await expect(form.locator("[data-shown]")).to_have_attribute("data-shown", place["id"])
    address = form.get_by_label(text["space.address"])
    await expect(address).to_have_value("")
    await expect(form.locator(".map-preview")).to_have_text(text["places.noAddress"])
    await address.fill("Topeliuksenkatu 6, 00250 Helsinki")
    map_link = form.get_by_role("link", name=text["space.map"])
    await expect(map_link).to_have_attribute("href", re.compile(r"Topeliuksenkatu"))
    description = form.get_by_role("group", name=text["places.description"])
    await description.get_by_label(text["places.lang.fi"]).fill("Lukusali ja ryhmätilat.")
    await description.get_by_label(text["places.lang.sv"]).fill("Läsesal och grupprum.")
    await form.get_by_label(text["space.accessibility"]).fill("Luiska pääovelle\nEsteetön WC")
    photo = form.get_by_label(text["places.photo"])
    alt = form.get_by_role("group", name=text["places.photoAlt"])
    await alt.get_by_label(text["places.lang.fi"]).fill("Lukusali ikkunoineen")

    # A photo from another site is refused: its field is marked and focused.
    await photo.fill("https://elsewhere.example/photo.jpg")
    await form.get_by_role("button", name=text["save"]).click()
    await expect(form.locator(".form-error")).to_contain_text(text["problem.invalid"])
    await expect(photo).to_have_attribute("aria-invalid", "true")
    await expect(photo).to_be_focused()
    await shot(page, "place-form-invalid-desktop")
    assert await axe(page) == []

    # Someone else saves the place meanwhile: the save says so and shows their version.
    api.call(
        "PATCH", f"/locations/{place['id']}", staff, json={"accessibility": ["Induktiosilmukka"]}
    )
    await photo.fill("/app/img/space.svg")
    await form.get_by_role("button", name=text["save"]).click()
    await expect(form.locator(".form-error")).to_contain_text(text["problem.stale"])
    await expect(form.locator(".form-error")).to_contain_text(text["places.reloaded"])
    await expect(form.get_by_label(text["space.accessibility"])).to_have_value("Induktiosilmukka")
    await expect(address).to_have_value("")
    # Made again over their version, it is saved.
    await address.fill("Topeliuksenkatu 6, 00250 Helsinki")
    await form.get_by_label(text["space.accessibility"]).fill("Induktiosilmukka\nEsteetön WC")
    await description.get_by_label(text["places.lang.fi"]).fill("Lukusali ja ryhmätilat.")
    await photo.fill("/app/img/space.svg")
    await alt.get_by_label(text["places.lang.fi"]).fill("Lukusali ikkunoineen")
    await saves(page, form, f"/locations/{place['id']}", text["save"])
    await expect(page.locator("#status")).to_contain_text(text["places.saved"])
    await expect(form.locator(".form-error")).to_be_empty()
    saved = api.call("GET", f"/locations/{place['id']}", staff)
    assert saved["address"] == "Topeliuksenkatu 6, 00250 Helsinki"
    assert saved["description"] == {"fi": "Lukusali ja ryhmätilat."}
    assert saved["accessibility"] == ["Induktiosilmukka", "Esteetön WC"]
    assert saved["image"] == {"src": "/app/img/space.svg", "alt": {"fi": "Lukusali ikkunoineen"}}

    # The space: size, equipment, a price per hour and terms.
    spaces = page.locator(
        "section.card", has=page.get_by_role("heading", name=text["places.spaceTitle"])
    )
    space_form = spaces.locator("form")
    await space_form.get_by_label(text["staff.resource"]).select_option(room["id"])
    await expect(space_form.locator("[data-shown]")).to_have_attribute("data-shown", room["id"])
    await space_form.get_by_label(text["space.capacity"]).fill("12")
    await space_form.get_by_label(text["space.equipment"]).fill("Projektori\nValkotaulu")
    await space_form.get_by_label(text["space.price"], exact=True).select_option("paid")
    await space_form.get_by_label(text["places.amount"]).fill("7.5")
    await space_form.get_by_label(text["places.per"], exact=True).select_option("hour")
    terms = space_form.get_by_role("group", name=text["space.terms"])
    await terms.get_by_label(text["places.lang.fi"]).fill("Ei ruokaa salissa.")
    await saves(page, space_form, f"/resources/{room['id']}", text["save"])
    changed = api.call("GET", f"/resources/{room['id']}", staff)
    assert changed["capacity"] == 12 and changed["equipment"] == ["Projektori", "Valkotaulu"]
    assert changed["price"] == {"free": False, "amount": 7.5, "currency": "EUR", "per": "hour"}
    assert changed["terms"] == {"fi": "Ei ruokaa salissa."}
    await shot(page, "place-form-desktop")
    assert await axe(page) == []

    # On a phone: the space made free again; the place's page shows what was saved.
    phone = await new_page(width=390, height=844)
    await log_in(phone, app, staff.email)
    await phone.goto(app + "#/staff/resources")
    space_form = phone.locator(
        "section.card", has=phone.get_by_role("heading", name=text["places.spaceTitle"])
    ).locator("form")
    await space_form.get_by_label(text["staff.resource"]).select_option(room["id"])
    await expect(space_form.locator("[data-shown]")).to_have_attribute("data-shown", room["id"])
    await expect(space_form.get_by_label(text["places.amount"])).to_have_value("7.5")
    await space_form.get_by_label(text["space.price"], exact=True).select_option("free")
    await expect(space_form.get_by_label(text["places.amount"])).to_be_hidden()
    await saves(phone, space_form, f"/resources/{room['id']}", text["save"])
    await expect(phone.locator("#status")).to_contain_text(text["places.saved"])
    assert api.call("GET", f"/resources/{room['id']}", staff)["price"]["free"] is True
    assert await wider_than_the_screen(phone) == []
    await shot(phone, "place-form-phone")
    assert await axe(phone) == []
    await phone.goto(app + f"#/spaces/{place['id']}")
    await expect(phone.locator("h1")).to_have_text(f"Töölön kirjasto {tag}")
    photo_shown = phone.locator("img.space-photo")
    await expect(photo_shown).to_have_attribute("alt", "Lukusali ikkunoineen")
    await expect(phone.locator("main")).to_contain_text("Topeliuksenkatu 6")
    lukusali = phone.locator("section.space", has_text=f"Lukusali {tag}")
    for fact in ("12", "Projektori", text["space.free"], "Ei ruokaa salissa."):
        await expect(lukusali).to_contain_text(fact)
    assert await wider_than_the_screen(phone) == []
    await shot(phone, "place-page-after-staff-form-phone")
