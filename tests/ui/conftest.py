"""Fixtures for the browser tests: the real platform (processes), users made through the
gateway's API, and headless Chromium (Debian's) driven by Playwright, with axe-core."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from pymongo import MongoClient

from kit import localstore
from kit import platform as kit_platform
from kit.platform import Platform

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "ui"
AXE = HERE / "vendor" / "axe-core" / "axe.min.js"
PASSWORD = "kirjasto-Kohtaamo-2026!"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class User:
    id: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    """The gateway's /api/v1, as any frontend calls it."""

    def __init__(self, base: str) -> None:
        self.client = httpx.Client(base_url=base + "/api/v1", timeout=30)

    def call(self, method: str, path: str, user: User | None = None, **kw: Any) -> Any:
        response = self.client.request(method, path, headers=user.headers if user else {}, **kw)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def sign_up(self, name: str, municipality: str = "helsinki") -> User:
        local = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "user"
        email = f"{local}-{uuid.uuid4().hex[:8]}@example.fi"
        out = self.call(
            "POST",
            "/auth/signup",
            json={
                "municipality": municipality,
                "email": email,
                "password": PASSWORD,
                "display_name": name,
                "language": "fi",
                "accept_terms": True,
            },
        )
        return User(out["user"]["id"], email, out["tokens"]["access_token"])

    def log_in(self, user: User, municipality: str = "helsinki") -> User:
        tokens = self.call(
            "POST",
            "/auth/login",
            json={"municipality": municipality, "email": user.email, "password": PASSWORD},
        )
        return User(user.id, user.email, tokens["access_token"])


def _city_module() -> Any:
    """Identity's test OpenID provider launcher (services/identity/tests/city.py)."""
    path = ROOT / "services" / "identity" / "tests" / "city.py"
    spec = importlib.util.spec_from_file_location("kohtaamo_ui_city", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


CITY = _city_module()


@dataclass(frozen=True)
class CityLogin:
    """Helsinki's city login for the UI's platform: a real oidc-provider process whose
    client sends the browser back to the platform's gateway."""

    provider: str
    gateway_port: int

    def settings(self) -> dict[str, str]:
        app = f"http://127.0.0.1:{self.gateway_port}/app/"
        providers = {
            "helsinki": {
                "issuer": self.provider,
                "client_id": CITY.CLIENT_ID,
                "client_secret": CITY.CLIENT_SECRET,
                "scopes": ["openid", "profile", "email", "loa"],
                "assurance_claim": "loa",
                "verified_levels": ["substantial", "high"],
                "label": {"fi": "Helsinki-tunnus", "sv": "Helsingfors-ID", "en": "Helsinki ID"},
            }
        }
        return {
            "KOHTAAMO_OIDC_PROVIDERS": json.dumps(providers),
            "KOHTAAMO_OIDC_REDIRECT_URI": app,
            "KOHTAAMO_OIDC_POST_LOGOUT_REDIRECT_URI": app,
        }

    async def person(self, *, email: bool = True, **claims: Any) -> str:
        """A person at the provider (`email=False`: one whose sign-in gives no email)."""
        sub = f"ui-{uuid.uuid4().hex[:10]}"
        given = {"email": f"{sub}@city.example"} if email else {}
        await CITY.set_user(self.provider, sub, {**given, **claims})
        return sub


@pytest.fixture(scope="session")
async def city_login() -> AsyncIterator[CityLogin]:
    gateway_port = localstore.free_port()
    redirect = f"http://127.0.0.1:{gateway_port}/app/"
    async with CITY.run_provider(localstore.free_port(), redirect_uri=redirect) as base:
        yield CityLogin(base, gateway_port)


@pytest.fixture(scope="session")
def platform(
    make_settings: Callable[..., Any],
    make_vhost: Callable[..., str],
    tmp_path_factory: pytest.TempPathFactory,
    city_login: CityLogin,
) -> Iterator[Platform]:
    # Its own vhost: these processes live for the session and consume the same queue
    # names as other tests' in-process services.
    settings = make_settings("ui", amqp_url=make_vhost("ui"))
    started = kit_platform.start_for(
        settings,
        tmp_path_factory.mktemp("ui-platform"),
        # Demo venues, events, locations and resources; the tests make their own accounts,
        # so identity's demo people (many password hashes) are not needed.
        seed=("events", "bookings"),
        municipalities=True,
        # Helsinki has a city login (only identity reads these).
        env=city_login.settings(),
        gateway_port=city_login.gateway_port,
        # Every test user signs up and logs in from the same address, and the browser and
        # the tests' API calls all come from it too.
        gateway_env={
            "KOHTAAMO_RATE_LIMIT_AUTH": "1000/minute",
            "KOHTAAMO_RATE_LIMIT_CLIENT": "20000/minute",
            "KOHTAAMO_RATE_LIMIT_USER": "20000/minute",
        },
    )
    try:
        yield started
    finally:
        kit_platform.stop(started)


@pytest.fixture(scope="session")
def api(platform: Any) -> Iterator[Api]:
    client = Api(platform.gateway)
    yield client
    client.client.close()


@pytest.fixture(scope="session")
def staff(api: Api, platform: Any) -> User:
    """A staff member of Helsinki. The site's first admin is made in identity's store (as an
    operator does on a fresh site); that admin grants the staff role through the API."""
    admin = api.sign_up("Admin")
    with MongoClient(platform.mongo_url, retryWrites=False) as client:
        client[platform.database("identity")].users.update_one(
            {"_id": admin.id}, {"$set": {"roles": ["admin", "resident"]}}
        )
    admin = api.log_in(admin)
    person = api.sign_up("Staff")
    api.call("PUT", f"/municipalities/helsinki/users/{person.id}/roles/staff", admin)
    return api.log_in(person)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable, "Chromium is not installed: run scripts/ensure-chromium.sh"
    async with async_playwright() as pw:
        # launch() gives every run a fresh temporary user data directory.
        chromium = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def new_page(browser: Browser) -> AsyncIterator[Callable[..., Any]]:
    """Pages in their own browser contexts (own storage), with axe-core preloaded."""
    contexts = []

    async def make(width: int = 1280, height: int = 900, language: str = "fi") -> Page:
        context = await browser.new_context(
            viewport={"width": width, "height": height},
            locale={"fi": "fi-FI", "sv": "sv-FI", "en": "en-GB"}[language],
            timezone_id="Europe/Helsinki",
            accept_downloads=True,
        )
        context.set_default_timeout(30_000)
        await context.add_init_script(path=str(AXE))
        contexts.append(context)
        return await context.new_page()

    yield make
    for context in contexts:
        await context.close()


async def _shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def _serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core (WCAG 2.0/2.1 A and AA plus best practices) on the page as it is now."""
    violations = await page.evaluate(
        """async () => {
            const result = await axe.run(document, {
                runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'],
            });
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
            }));
        }"""
    )
    return [v for v in violations if v["impact"] in ("serious", "critical")]


async def _wider_than_the_screen(page: Page) -> list[str]:
    """Elements reaching past the viewport's right edge (empty when the page fits)."""
    return await page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            if (document.documentElement.scrollWidth <= width + 1) return [];
            return [...document.querySelectorAll("body *")]
                .filter((el) => el.getBoundingClientRect().right > width + 1)
                .slice(0, 8)
                .map((el) => `${el.tagName}.${el.className}`);
        }"""
    )


@pytest.fixture
def wider_than_the_screen() -> Callable[..., Any]:
    """`await wider_than_the_screen(page)`: elements past the viewport's right edge."""
    return _wider_than_the_screen


@pytest.fixture
def shot() -> Callable[..., Any]:
    """`await shot(page, name)`: a full-page screenshot in test-artifacts/ui/."""
    return _shot


@pytest.fixture
def axe() -> Callable[..., Any]:
    """`await axe(page)`: the serious and critical axe-core violations on the page."""
    return _serious_violations


@pytest.fixture(scope="session")
def ui_text() -> dict[str, dict[str, str]]:
    """The UI's own strings per language, so a test can expect the text a reader sees."""
    web = ROOT / "services" / "gateway" / "src" / "gateway" / "web" / "i18n"
    return {
        lang: json.loads((web / f"{lang}.json").read_text(encoding="utf-8"))
        for lang in ("fi", "sv", "en")
    }


@pytest.fixture
def log_in(ui_text: dict[str, dict[str, str]]) -> Callable[..., Any]:
    """`await log_in(page, app, email, lang)`: signs in through the form, lands on my page
    (or, after a sign-in link that leads back, on the page whose heading is `lands_on`)."""

    async def sign_in(
        page: Page, app: str, email: str, lang: str = "fi", lands_on: str = "nav.me"
    ) -> None:
        text = ui_text[lang]
        await page.goto(app + "#/login")
        await page.get_by_label(text["field.municipality"]).select_option("helsinki")
        await page.get_by_label(text["field.email"]).fill(email)
        await page.get_by_label(text["field.password"]).fill(PASSWORD)
        await page.get_by_role("button", name=text["auth.login"], exact=True).click()
        await expect(page.locator("h1")).to_have_text(text[lands_on])

    return sign_in
