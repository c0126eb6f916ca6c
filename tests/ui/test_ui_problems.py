"""Problems in the reader's language, in headless Chromium against the real platform: a
wrong password (401), a field the server refuses (422, marked), a refused confirmation
(403), a time someone else booked first (409) and no connection (retry), in Finnish at
desktop size and in Swedish on a phone; then an expiring session: one refresh for many
calls, one sign-in prompt with the way back, and the header following."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.async_api import expect

pytestmark = pytest.mark.timeout(900)

OFFICE = "loc-hki-oodi-uo"
DESK = "res-hki-desk-2"
SIZES = {"fi": (1280, 800), "sv": (390, 844)}


def free_desk_slot(api: Any, user: Any) -> tuple[str, dict[str, str]]:
    for ahead in range(2, 9):
        day = (date.today() + timedelta(days=ahead)).isoformat()
        found = api.call(
            "GET", f"/resources/{DESK}/availability", user, params={"from": day, "to": day}
        )
        if found["slots"]:
            return day, found["slots"][-1]
    raise AssertionError("no free desk slot in the next week")


async def tamper_access_token(page: Any, refresh: str | None = None) -> None:
    """The access token no longer verifies (as after it expired); optionally the refresh
    token is replaced too (as when the session was ended elsewhere)."""
    await page.evaluate(
        """(refresh) => {
            const s = JSON.parse(sessionStorage.getItem("kohtaamo.session"));
            const [head, body, sig] = s.access.split(".");
            const other = sig.startsWith("AAAA") ? "BBBB" : "AAAA";
            s.access = [head, body, other + sig.slice(4)].join(".");
            if (refresh) s.refresh = refresh;
            sessionStorage.setItem("kohtaamo.session", JSON.stringify(s));
        }""",
        refresh,
    )


@pytest.mark.parametrize("lang", ["fi", "sv"])
async def test_problems_are_translated_marked_and_offer_a_retry(
    lang: str, platform: Any, api: Any, new_page: Any, shot: Any, axe: Any, ui_text: Any
) -> None:
    text = ui_text[lang]
    app = platform.gateway + "/app/"
    width, height = SIZES[lang]
    page = await new_page(width=width, height=height, language=lang)
    known = api.sign_up(f"Tunnettu{lang}")

    # 401: a wrong password says so (not "sign in again"), with no server English.
    await page.goto(app + "#/login")
    await page.get_by_label(text["field.email"]).fill(known.email)
    await page.get_by_label(text["field.password"]).fill("wrong-password-123")
    await page.get_by_role("button", name=text["auth.login"], exact=True).click()
    error = page.locator("form .form-error")
    await expect(error).to_have_text(text["problem.loginFailed"])
    await shot(page, f"problems-401-{lang}")
    assert await axe(page) == []

    # 422: a name of spaces passes the browser but not the server; the field is marked,
    # its message tied to it and focused.
    await page.get_by_role("link", name=text["auth.signup"]).click()
    await page.get_by_label(text["field.municipality"]).select_option("helsinki")
    name = page.get_by_label(text["field.name"])
    await name.fill("   ")
    await page.get_by_label(text["field.email"]).fill(f"uusi-{uuid.uuid4().hex[:8]}@example.fi")
    await page.get_by_label(text["field.password"]).fill("kirjasto-Kohtaamo-2026!")
    await page.get_by_label(text["auth.terms"]).check()
    await page.get_by_role("button", name=text["auth.signup"]).click()
    await expect(error).to_have_text(text["problem.invalid"])
    await expect(name).to_have_attribute("aria-invalid", "true")
    await expect(name).to_be_focused()
    note = page.locator(".field-error")
    await expect(note).to_have_count(1)
    assert await note.get_attribute("id") in (await name.get_attribute("aria-describedby")).split()
    assert "display_name" not in await page.locator("main").inner_text()
    await shot(page, f"problems-422-{lang}")
    assert await axe(page) == []
    await name.fill(f"Uusi {lang}")
    await page.get_by_role("button", name=text["auth.signup"]).click()
    await expect(page.locator("h1")).to_have_text(text["nav.me"])

    # 409: someone books the chosen time first.
    day, slot = free_desk_slot(api, known)
    await page.goto(app + "#/book")
    await page.get_by_label(text["book.location"]).select_option(OFFICE)
    await page.get_by_label(text["book.kind"]).select_option("workstation")
    await page.get_by_label(text["book.date"]).fill(day)
    await page.get_by_role("button", name=text["book.search"]).click()
    desk = page.locator("section.resource", has=page.locator(f"h2#res-{DESK}"))
    chosen = await desk.locator("button.slot").last.get_attribute("data-at")
    await desk.locator("button.slot").last.click()
    api.call(
        "POST",
        "/bookings",
        known,
        json={"resource_id": DESK, "starts_at": slot["starts_at"], "ends_at": slot["ends_at"]},
    )
    await desk.get_by_role("button", name=text["book.confirm"], exact=True).click()
    # It says so, and the times are read again: that time now shows as taken.
    stale = page.locator(".results .stale")
    await expect(stale).to_have_text(text["problem.bookingConflict"])
    await expect(stale).to_be_focused()
    await expect(desk.locator("form.booking-form")).to_have_count(0)
    await expect(desk.locator("button.slot").first).to_be_visible()
    await expect(desk.locator(f'button.slot[data-at="{chosen}"]')).to_have_count(0)
    await expect(desk.locator(".slot.taken").last).to_be_visible()
    await shot(page, f"problems-409-{lang}")
    assert await axe(page) == []

    # 403: deleting the account needs the right password.
    await page.goto(app + "#/me")
    page.once("dialog", lambda dialog: dialog.accept())
    danger = page.locator("form.danger-zone")
    await danger.get_by_label(text["field.password"]).fill("not-my-password-1")
    await danger.get_by_role("button", name=text["me.delete"]).click()
    await expect(page.locator("#status .toast-error")).to_have_text(text["problem.wrongPassword"])

    # No connection: a message instead of "Failed to fetch", and a retry that works.
    await page.context.set_offline(True)
    await page.goto(app + "#/book")
    await expect(page.locator("h1")).to_have_text(text["error.title"])
    await expect(page.locator("main")).to_contain_text(text["problem.offline"])
    assert "Failed to fetch" not in await page.locator("body").inner_text()
    await shot(page, f"problems-offline-{lang}")
    assert await axe(page) == []
    await page.context.set_offline(False)
    await page.get_by_role("button", name=text["error.retry"]).click()
    await expect(page.locator("h1")).to_have_text(text["book.title"])


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_an_expiring_session_refreshes_once_and_then_asks_to_sign_in_once(
    platform: Any, api: Any, new_page: Any, shot: Any, axe: Any, ui_text: Any, log_in: Any,
    size: str,
) -> None:  # fmt: skip
    text = ui_text["fi"]
    app = platform.gateway + "/app/"
    person = api.sign_up("Istunto")
    width, height = {"desktop": (1280, 800), "phone": (390, 844)}[size]
    page = await new_page(width=width, height=height)
    refreshes: list[str] = []
    page.on(
        "request", lambda r: refreshes.append(r.url) if r.url.endswith("/auth/refresh") else None
    )
    await log_in(page, app, person.email)

    # The access token fails: my page's many calls share one refresh and all succeed.
    await tamper_access_token(page)
    await page.reload()
    await expect(page.locator("#my-bookings, section.card").first).to_be_visible()
    await expect(page.locator(".form-error")).to_have_count(0)
    assert len(refreshes) == 1

    # The refresh token no longer works either: one prompt with a sign-in link, and the
    # header offers signing in instead of signing out.
    await tamper_access_token(page, refresh="spent-or-revoked-token")
    await page.reload()
    await expect(page.locator("h1")).to_have_text(text["error.sessionTitle"])
    await expect(page.locator("main .sign-in-again")).to_have_count(1)
    await expect(page.get_by_text(text["problem.sessionEnded"])).to_have_count(1)
    account = page.locator("#account")
    await expect(account.get_by_role("link", name=text["auth.login"])).to_be_visible()
    await expect(account.get_by_role("button", name=text["auth.logout"])).to_have_count(0)
    assert len(refreshes) == 2
    await shot(page, f"session-ended-{size}")
    assert await axe(page) == []

    # Signing in again leads back to the page the person was on.
    await page.locator("main .sign-in-again").click()
    await page.get_by_label(text["field.email"]).fill(person.email)
    await page.get_by_label(text["field.password"]).fill("kirjasto-Kohtaamo-2026!")
    await page.get_by_role("button", name=text["auth.login"], exact=True).click()
    await expect(page.locator("h1")).to_have_text(text["nav.me"])
    await expect(account.get_by_role("button", name=text["auth.logout"])).to_be_visible()

    # Toasts stack, newest last, and each one expires.
    consent = page.get_by_label(text["consent.marketing"])
    await consent.check()
    await consent.uncheck()
    # (the welcome toast of the sign-in may still be there: count the saved ones)
    saved = page.locator("#status .toast", has_text=text["saved"])
    await expect(saved).to_have_count(2)
    await shot(page, f"toasts-{size}")
    await expect(page.locator("#status .toast")).to_have_count(0, timeout=20_000)
