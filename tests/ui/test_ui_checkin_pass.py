"""QR check-in and the calendar feed, in headless Chromium against the real platform: a
booking's and a registration's pass is shown as a QR code in the confirmation and on my
page; the code decodes (zxing-cpp, an independent reader) to the staff check-in page, which
a staff member on a phone opens, signs in to and checks the person in with; a second scan,
a typed registration code, a malformed and an unknown code each get their own message.
The personal feed's public address is copied and offered to Google and Outlook, and it
holds both the booking and the registration."""

from __future__ import annotations

import io
import re
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
import zxingcpp
from icalendar import Calendar
from PIL import Image
from playwright.async_api import Locator, expect

from kit.testing import eventually

pytestmark = pytest.mark.timeout(600)

HEL = ZoneInfo("Europe/Helsinki")
ALL_DAY = {str(d): [{"opens": "00:00", "closes": "23:45"}] for d in range(7)}


async def decoded(qr: Locator) -> str:
    """What a camera reads from the QR code as drawn on the screen."""
    image = Image.open(io.BytesIO(await qr.screenshot())).convert("L")
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1, found
    return str(found[0].text)


async def test_qr_check_in_from_booking_and_registration_to_staff_on_a_phone(
    platform: Any,
    api: Any,
    staff: Any,
    new_page: Any,
    shot: Any,
    axe: Any,
    ui_text: Any,
    log_in: Any,
) -> None:
    text = ui_text["fi"]
    app = platform.gateway + "/app/"
    tag = uuid.uuid4().hex[:4]
    place = api.call(
        "POST",
        "/locations",
        staff,
        json={"name": {"fi": f"Pajatila {tag}"}, "hours": {"weekly": ALL_DAY}},
    )
    desk = api.call(
        "POST",
        "/resources",
        staff,
        json={
            "location_id": place["id"],
            "kind": "workstation",
            "name": {"fi": f"Tietokone {tag}"},
            "rules": {
                "slot_minutes": 15,
                "min_minutes": 15,
                "max_minutes": 60,
                "check_in_opens_minutes": 240,
            },
        },
    )
    tomorrow = (datetime.now(HEL) + timedelta(days=1)).date().isoformat()
    event = api.call(
        "POST",
        "/events",
        staff,
        json={
            "kind": "workshop",
            "title": {"fi": f"Koodikerho {tag}"},
            "starts_at": f"{tomorrow}T12:00:00",
            "ends_at": f"{tomorrow}T13:00:00",
            "venue_id": "ven-hki-oodi",
        },
    )
    api.call("POST", f"/events/{event['id']}/publish", staff)
    resident = api.sign_up("Kerttu Koodari")

    # The resident books the desk's first free time today (tomorrow's first late at night;
    # check-in opens four hours before) and the confirmation shows the pass as a QR code.
    now = datetime.now(HEL)
    day = now.date() if now.hour * 60 + now.minute < 23 * 60 + 15 else now.date() + timedelta(1)
    page = await new_page(width=1280, height=800)
    await log_in(page, app, resident.email)
    await page.goto(app + "#/book")
    await page.get_by_label(text["book.location"]).select_option(place["id"])
    await page.get_by_label(text["book.kind"]).select_option("workstation")
    await page.get_by_label(text["book.date"]).fill(day.isoformat())
    await page.get_by_role("button", name=text["book.search"]).click()
    block = page.locator("section.resource", has=page.locator(f"h2#res-{desk['id']}"))
    await block.locator("button.slot").first.click()
    await block.get_by_role("button", name=text["book.confirm"], exact=True).click()
    done = block.locator(".card.success")
    await expect(done.locator("details.pass")).to_have_attribute("open", "")
    booking_qr = done.locator("svg.qr")
    await expect(booking_qr).to_have_attribute("role", "img")
    booking_link = await decoded(booking_qr)
    [booking] = [
        b
        for b in api.call("GET", "/bookings/mine", resident)["items"]
        if b["resource_id"] == desk["id"]
    ]
    pass_ = booking["checkin_pass"]
    assert booking_link == f"{app}#/staff/scan?code={pass_}"
    # the same code as text, in groups of five, for typing
    await expect(done.locator(".pass-code")).to_have_text(
        " ".join(pass_[i : i + 5] for i in range(0, 25, 5))
    )
    await shot(page, "pass-booking-confirmation")
    assert await axe(page) == []

    # Registering shows the registration's pass at once; my page has both, folded.
    await page.goto(app + f"#/events/{event['id']}")
    await page.get_by_role("button", name=text["reg.register"], exact=True).click()
    await expect(page.locator("details.pass svg.qr")).to_be_visible()
    registration_link = await decoded(page.locator("details.pass svg.qr"))
    [registration] = api.call("GET", "/registrations/mine", resident)["items"]
    assert registration_link.endswith(f"#/staff/scan?code={registration['checkin_pass']}")
    await page.goto(app + "#/me")
    passes = page.locator("#my-bookings details.pass, #my-registrations details.pass")
    await expect(passes).to_have_count(2)
    await expect(passes.first).not_to_have_attribute("open", "")
    for summary in await passes.locator("summary").all():
        await summary.click()
    await expect(page.locator("#my-bookings svg.qr")).to_be_visible()
    assert await decoded(page.locator("#my-bookings svg.qr")) == booking_link
    await shot(page, "pass-my-page")
    assert await axe(page) == []

    # The calendar feed: at the site's public address (the gateway's, never a service's),
    # copied with one click, with Google's and Outlook's subscribe links, and holding the
    # booking and the registration (which bookings learns from events' messages).
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    feed_box = page.locator("section[aria-labelledby='me-feed-title']")
    await feed_box.get_by_role("button", name=text["feed.make"]).click()
    address = feed_box.get_by_label(text["feed.url"])
    public = re.escape(platform.gateway + "/api/v1/feeds/")
    await expect(address).to_have_value(re.compile(rf"^{public}[\w-]+\.ics$"))
    feed_url = await address.input_value()
    await feed_box.get_by_role("button", name=text["feed.copy"]).click()
    assert await page.evaluate("navigator.clipboard.readText()") == feed_url
    google = await feed_box.get_by_role("link", name=text["feed.google"]).get_attribute("href")
    webcal = "webcal:" + feed_url.split(":", 1)[1]
    assert google and parse_qs(urlsplit(google).query)["cid"] == [webcal]
    outlook = await feed_box.get_by_role("link", name=text["feed.outlook"]).get_attribute("href")
    assert outlook and parse_qs(urlsplit(outlook).query)["url"] == [feed_url]
    await expect(feed_box.get_by_role("link", name=text["feed.webcal"])).to_have_attribute(
        "href", webcal
    )
    await feed_box.scroll_into_view_if_needed()
    await shot(page, "feed-links")
    assert await axe(page) == []
    # On a phone the address, its copy button and the links fit the screen.
    await page.evaluate("navigator.clipboard.writeText('')")
    await page.set_viewport_size({"width": 390, "height": 844})
    await feed_box.get_by_role("button", name=text["feed.copy"]).click()
    assert await page.evaluate("navigator.clipboard.readText()") == feed_url
    for control in (address, feed_box.get_by_role("link", name=text["feed.outlook"])):
        box = await control.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert await page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1"
    )
    await feed_box.scroll_into_view_if_needed()
    await shot(page, "feed-links-phone")
    assert await axe(page) == []
    await page.set_viewport_size({"width": 1280, "height": 800})
    uids = {f"{booking['id']}@kohtaamo.fi", f"{registration['id']}@kohtaamo.fi"}

    async def both_in_feed() -> bool:
        async with httpx.AsyncClient() as client:
            calendar = Calendar.from_ical((await client.get(feed_url)).text)
        return uids <= {str(e["UID"]) for e in calendar.walk("VEVENT")}

    await eventually(both_in_feed, timeout=60)

    # Staff on a phone: the camera app opens the code's link in a new tab without a
    # session; signing in leads back to the check-in with the code filled in.
    desk_phone = await new_page(width=390, height=844)
    await desk_phone.goto(booking_link)
    await desk_phone.get_by_role("link", name=text["error.signinAgain"]).click()
    await log_in(desk_phone, app, staff.email, lands_on="nav.staff")
    code = desk_phone.get_by_label(text["scan.code"])
    await expect(code).to_have_value(pass_)
    await desk_phone.get_by_role("button", name=text["scan.submit"], exact=True).click()
    success = desk_phone.locator(".scan-done")
    await expect(success).to_contain_text(text["scan.done"])
    await expect(success).to_contain_text(f"Tietokone {tag}")
    await expect(code).to_have_value("")
    await expect(code).to_be_focused()  # ready for the next person
    await shot(desk_phone, "pass-staff-phone-checked-in")
    assert await axe(desk_phone) == []
    assert api.call("GET", f"/bookings/{booking['id']}", resident)["status"] == "checked_in"
    width = await desk_phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390

    # The same code again: said so, not checked in twice.
    error = desk_phone.locator(".scan-form .form-error")
    await code.fill(booking_link)  # a scanner that types the whole link
    await desk_phone.get_by_role("button", name=text["scan.submit"], exact=True).click()
    await expect(error).to_contain_text(text["problem.alreadyCheckedIn"])
    await expect(code).not_to_have_attribute("aria-invalid", "true")  # the code was right

    # The registration's code typed by hand (lower case, spaced): the person is present.
    typed = " ".join(registration["checkin_pass"][i : i + 5] for i in range(0, 25, 5)).lower()
    await code.fill(typed)
    await desk_phone.get_by_role("button", name=text["scan.submit"], exact=True).click()
    await expect(success).to_contain_text(f"Koodikerho {tag}")
    await expect(success).to_contain_text("Kerttu Koodari")
    listed = api.call("GET", f"/events/{event['id']}/registrations", staff)["items"]
    assert [r["attended"] for r in listed] == [True]

    # Not a code, and a code nobody has: the field is marked with its own message.
    for wrong, message in (
        ("ABC-123", "problem.passInvalid"),
        ("B" + "A" * 24, "problem.passUnknown"),
    ):
        await code.fill(wrong)
        await desk_phone.get_by_role("button", name=text["scan.submit"], exact=True).click()
        await expect(error).to_contain_text(text[message])
        await expect(code).to_have_attribute("aria-invalid", "true")
        await expect(code).to_be_focused()
    await shot(desk_phone, "pass-staff-phone-unknown-code")
    assert await axe(desk_phone) == []

    # On my page the checked-in booking says so and shows no code any more.
    await page.reload()
    await expect(page.locator("#my-bookings .booking-status")).to_have_text(
        text["bstatus.checked_in"]
    )
    await expect(page.locator("#my-bookings details.pass")).to_have_count(0)
