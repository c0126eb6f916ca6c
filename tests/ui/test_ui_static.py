"""The web UI's files, without a browser: served by the gateway at /app with a content
security policy that allows this origin only, no third-party assets, and the same
translation keys in fi, sv and en for every key the code uses."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import httpx

from gateway.main import service
from gateway.web_mount import WEB_DIR

LANGUAGES = ("fi", "sv", "en")


def translations() -> dict[str, dict[str, str]]:
    return {
        lang: json.loads((WEB_DIR / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))
        for lang in LANGUAGES
    }


def scripts() -> dict[Path, str]:
    return {p: p.read_text(encoding="utf-8") for p in sorted((WEB_DIR / "js").rglob("*.js"))}


def test_every_language_has_every_key_and_no_empty_text() -> None:
    found = translations()
    keys = {lang: set(strings) for lang, strings in found.items()}
    assert keys["fi"] == keys["sv"] == keys["en"]
    for lang, strings in found.items():
        assert all(text.strip() for text in strings.values()), lang


def test_every_key_the_code_uses_is_translated() -> None:
    known = set(translations()["en"])
    used: set[str] = set()
    dynamic_prefixes: set[str] = set()
    for text in scripts().values():
        # t("key"), and keys chosen by a condition: t(x ? "a.b" : "c.d")
        used |= set(re.findall(r'\bt\(\s*"([\w.]+)"', text))
        used |= set(re.findall(r'\?\s*"([a-z]+\.[\w]+)"\s*:\s*"[a-z]+\.[\w]+"', text))
        used |= set(re.findall(r'\?\s*"[a-z]+\.[\w]+"\s*:\s*"([a-z]+\.[\w]+)"', text))
        dynamic_prefixes |= set(re.findall(r"\bt\(`([\w.]+)\.\$\{", text))
        # Texts chosen from a table, e.g. problem types -> "problem.loginFailed".
        used |= set(re.findall(r'"((?:problem|field|error)\.[a-z]\w*)"', text))
    assert used, "no translated strings found"
    assert sorted(used - known) == []
    for prefix in dynamic_prefixes:
        assert any(k.startswith(prefix + ".") for k in known), prefix


def test_no_third_party_assets() -> None:
    html = (WEB_DIR / "index.html").read_text(encoding="utf-8")
    assert re.search(r'<html lang="fi">', html)
    for ref in re.findall(r'(?:src|href)="([^"#]+)"', html):
        assert not re.match(r"(https?:)?//", ref), ref
    for path, text in scripts().items():
        for spec in re.findall(r'from\s+"([^"]+)"', text):
            assert spec.startswith("./") or spec.startswith("../"), (path, spec)


async def test_gateway_serves_the_ui_with_its_own_security_policy() -> None:
    app = service().create_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        root = await client.get("/")
        assert root.status_code == 307 and root.headers["location"] == "/app/"
        page = await client.get("/app/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert '<main id="main"' in page.text
        module = await client.get("/app/js/app.js")
        assert module.status_code == 200
        assert "javascript" in module.headers["content-type"]
        strings = await client.get("/app/i18n/sv.json")
        assert strings.json()["nav.book"] == "Boka en plats"
        # The API keeps its own answers and policy.
        api = await client.get("/api/v1/no-such-thing")
        assert api.status_code == 404
        assert api.headers["content-type"] == "application/problem+json"
        assert api.headers["content-security-policy"].startswith("default-src 'none'")


def test_the_vendored_qr_library_is_the_pinned_release() -> None:
    """js/qr.js draws passes with qrcode-generator 2.0.4 as published (its README names
    the hash): a changed file is noticed, not served."""
    vendored = WEB_DIR / "vendor" / "qrcode-generator"
    pinned = re.search(r"sha256 `([0-9a-f]{64})`", (vendored / "README.md").read_text())
    assert pinned is not None
    digest = hashlib.sha256((vendored / "qrcode.js").read_bytes()).hexdigest()
    assert digest == pinned.group(1)
