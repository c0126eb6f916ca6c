"""axe-core on every page of the web UI, not only those a journey passes through: each
route of the router (js/app.js ROUTES), signed out and signed in as staff, with no serious
or critical violations. A route added to the router without a page here fails the test."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.timeout(900)

APP_JS = Path(__file__).resolve().parents[2] / "services/gateway/src/gateway/web/js/app.js"
PLACE = "loc-hki-oodi-uo"
SIGNED_OUT = [
    "#/events",
    "#/login",
    "#/signup",
    "#/forgot-password",
    "#/reset-password/not-a-real-link",
    "#/verify-email/not-a-real-link",
]


def router_patterns() -> list[str]:
    source = APP_JS.read_text()
    table = source[
        source.index("const ROUTES = [") : source.index("];", source.index("const ROUTES"))
    ]
    return re.findall(r"\[/(\^.*?\$)/,", table)


async def test_every_route_has_no_serious_axe_violations(
    platform: Any, api: Any, staff: Any, new_page: Any, log_in: Any, axe: Any
) -> None:
    app = platform.gateway + "/app/"
    events = api.call("GET", "/events", staff, params={"limit": 1})["items"]
    assert events, "the demo data has events"
    event_id = events[0]["id"]
    signed_in = [
        "#/events",
        f"#/events/{event_id}",
        "#/book",
        f"#/spaces/{PLACE}",
        "#/mentors",
        "#/me",
        "#/staff/events",
        "#/staff/bookings",
        "#/staff/resources",
        "#/staff/scan",
        f"#/staff/checkin/{event_id}",
        "#/dashboard",
    ]
    # Every route of the router is visited by one of the two lists.
    visited = [*SIGNED_OUT, *signed_in]
    for pattern in router_patterns():
        if pattern in (r"^#?\/?$",):
            continue  # the bare address: the events list
        assert any(re.match(pattern, hash_) for hash_ in visited), f"no page visits {pattern}"

    found: dict[str, list[Any]] = {}
    page = await new_page()
    for hash_ in SIGNED_OUT:
        await page.goto(app + hash_)
        await expect(page.locator("main h1")).to_be_visible()
        found[f"signed out {hash_}"] = await axe(page)
    await log_in(page, app, staff.email)
    for hash_ in signed_in:
        await page.goto(app + hash_)
        await expect(page.locator("main h1")).to_be_visible()
        await expect(page.locator("main")).not_to_have_attribute("aria-busy", "true")
        found[f"staff {hash_}"] = await axe(page)
    assert {where: v for where, v in found.items() if v} == {}
