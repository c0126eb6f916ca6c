"""City login in headless Chromium against the real platform and a real OpenID provider
(oidc-provider on Node.js): "Sign in with Helsinki-tunnus" on the sign-in page, the
provider's own sign-in and consent pages, back to my page; the verified birth date lets
the 15+ studio be booked without asking for it; logging out ends the session at the
provider too and comes back signed out. A sign-in whose provider gives no email asks for
one and finishes with it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.timeout(600)

MEDIAMAJA = "loc-hki-oodi-mm"
STUDIO = "res-hki-studio"


def next_monday() -> date:
    day = date.today() + timedelta(days=1)
    return day + timedelta(days=(7 - day.weekday()) % 7)


async def test_sign_in_with_the_city_book_the_studio_and_log_out_there(
    platform: Any,
    city_login: Any,
    new_page: Any,
    ui_text: dict[str, dict[str, str]],
    axe: Any,
    shot: Any,
) -> None:
    text = ui_text["fi"]
    app = platform.gateway + "/app/"
    sub = await city_login.person(
        name="Kaupunki Asukas", birthdate="2000-05-05", loa="substantial", email_verified=True
    )
    page = await new_page()
    await page.goto(app + "#/login")
    await page.get_by_label(text["field.municipality"]).select_option("helsinki")
    city = page.get_by_role(
        "button", name=text["city.signIn"].replace("{name}", "Helsinki-tunnus"), exact=True
    )
    await expect(city).to_be_visible()
    await shot(page, "city-login")
    assert await axe(page) == []
    await page.get_by_label(text["city.terms"]).check()
    await city.click()

    # The provider's own pages: its sign-in, then its consent.
    await page.locator("input[name=login]").fill(sub)
    await page.locator("input[name=password]").fill("any")
    await page.get_by_role("button", name="Sign-in").click()
    await page.get_by_role("button", name="Continue").click()
    await expect(page.locator("h1")).to_have_text(text["nav.me"])
    assert "code=" not in page.url and "state=" not in page.url

    # The birth date came verified with the sign-in: the 15+ studio does not ask for it.
    await page.goto(app + "#/book")
    await page.get_by_label(text["book.location"]).select_option(MEDIAMAJA)
    await page.get_by_label(text["book.kind"]).select_option("studio")
    await page.get_by_label(text["book.date"]).fill(next_monday().isoformat())
    await page.get_by_role("button", name=text["book.search"]).click()
    studio = page.locator("section.resource", has=page.locator(f"h2#res-{STUDIO}"))
    await studio.locator("button.slot").first.click()
    await expect(
        studio.get_by_role("button", name=text["book.confirm"], exact=True)
    ).to_be_visible()
    assert await studio.get_by_label(text["book.birthdate"]).count() == 0
    await studio.get_by_role("button", name=text["book.confirm"], exact=True).click()
    await expect(studio.locator(".card.success")).to_contain_text("Äänitysstudio")

    # Logging out ends the session here and at the provider, which sends the browser back.
    await page.get_by_role("button", name=text["auth.logout"]).click()
    await page.get_by_role("button", name="Yes, sign me out").click()
    await expect(
        page.locator("#account").get_by_role("link", name=text["auth.login"])
    ).to_be_visible()
    assert "state=" not in page.url
    assert await page.evaluate("sessionStorage.getItem('kohtaamo.session')") is None


async def test_a_city_sign_in_without_an_email_asks_for_it_and_finishes(
    platform: Any, city_login: Any, new_page: Any, ui_text: dict[str, dict[str, str]], axe: Any
) -> None:
    text = ui_text["en"]
    app = platform.gateway + "/app/"
    sub = await city_login.person(email=False, name="Ei Sähköpostia")
    page = await new_page(language="en")
    await page.goto(app + "#/login")
    await page.get_by_label(text["field.municipality"]).select_option("helsinki")
    await page.get_by_label(text["city.terms"]).check()
    await page.get_by_role(
        "button", name=text["city.signIn"].replace("{name}", "Helsinki ID"), exact=True
    ).click()
    await page.locator("input[name=login]").fill(sub)
    await page.locator("input[name=password]").fill("any")
    await page.get_by_role("button", name="Sign-in").click()
    await page.get_by_role("button", name="Continue").click()

    # Back without an account: the page asks for the email instead of a dead end.
    asked = page.locator("form", has=page.get_by_text(text["city.emailNeeded"]))
    await expect(asked).to_be_visible()
    await expect(asked.get_by_label(text["field.email"])).to_be_focused()
    assert await axe(page) == []
    await asked.get_by_label(text["field.email"]).fill(f"{sub}@home.example")
    await asked.get_by_role("button", name=text["city.emailContinue"]).click()
    # The provider's session holds: straight back, signed in with the account made.
    await expect(page.locator("h1")).to_have_text(text["nav.me"])
    await expect(page.get_by_text(f"{sub}@home.example")).to_be_visible()
