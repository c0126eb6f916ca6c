"""The real OpenID provider of the city login tests (oidc-provider on Node.js, installed by
`make test` from provider/package-lock.json) and a browser that signs in there over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from kit.localstore import free_port
from kit.testing import eventually

PROVIDER_DIR = Path(__file__).parent / "provider"
REDIRECT_URI = "http://ui.test/app/"
CLIENT_ID = "kohtaamo-test"
CLIENT_SECRET = "test-client-secret"
MIXUP_ISSUER = "https://tunnistamo.mixup.example"


@dataclass(frozen=True)
class ProviderPorts:
    """Ports chosen before identity starts, so that its settings can name the providers
    (they are reached only at sign-in, when the tests have started them)."""

    city: int
    other: int
    late: int
    mixup: int  # a discovery document naming another issuer than its provider's tokens

    @classmethod
    def choose(cls) -> ProviderPorts:
        return cls(free_port(), free_port(), free_port(), free_port())


def provider_settings(ports: ProviderPorts) -> dict[str, Any]:
    def one(port: int, **extra: Any) -> dict[str, Any]:
        return {
            "issuer": f"http://127.0.0.1:{port}",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scopes": ["openid", "profile", "email", "loa"],
            "assurance_claim": "loa",
            "verified_levels": ["substantial", "high"],
            **extra,
        }

    return {
        "helsinki": one(ports.city, label={"fi": "Helsinki-tunnus", "en": "Helsinki ID"}),
        "oidc-other": one(ports.other),
        "oidc-late": one(ports.late),
        # Configured for MIXUP_ISSUER, but its discovery document (served by the test)
        # sends the sign-in to the city's provider, whose ID tokens name the city.
        "oidc-mixup": {
            **one(ports.city),
            "issuer": MIXUP_ISSUER,
            "discovery_url": f"http://127.0.0.1:{ports.mixup}/.well-known/openid-configuration",
        },
    }


@asynccontextmanager
async def run_provider(
    port: int,
    *,
    issuer: str | None = None,
    clock_offset_s: int = 0,
    redirect_uri: str = REDIRECT_URI,
) -> AsyncIterator[str]:
    """oidc-provider as its own process; yields its address."""
    node = shutil.which("node")
    assert node, "Node.js is needed for the city login tests (make test installs the rest)"
    assert (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir(), (
        "run `make oidc-provider` (part of `make test`) to install the test provider"
    )
    base = f"http://127.0.0.1:{port}"
    clients = [
        {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [redirect_uri],
            "post_logout_redirect_uris": [redirect_uri],
        }
    ]
    env = {
        **os.environ,
        "ISSUER": issuer or base,
        "PORT": str(port),
        "CLIENTS": json.dumps(clients),
        "CLOCK_OFFSET_S": str(clock_offset_s),
    }
    process = await asyncio.create_subprocess_exec(
        node,
        "provider.mjs",
        cwd=PROVIDER_DIR,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient() as http:

            async def ready() -> bool:
                assert process.returncode is None, "the provider exited"
                try:
                    answer = await http.get(base + "/.well-known/openid-configuration")
                except httpx.TransportError:
                    return False
                return answer.status_code == 200

            await eventually(ready, timeout=60)
        yield base
    finally:
        process.terminate()
        await process.wait()


@contextmanager
def serve_discovery(port: int, metadata: dict[str, Any]) -> Iterator[str]:
    """A discovery document served as it is (a provider's endpoints under another issuer's
    name: what a mix-up attack or a misconfigured proxy presents)."""
    body = json.dumps(metadata).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path == "/.well-known/openid-configuration"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body) if found else 0))
            self.end_headers()
            if found:
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def set_user(base: str, sub: str, claims: dict[str, Any]) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.put(f"{base}/test-users/{sub}", json=claims)
        assert answer.status_code == 204, answer.text


@dataclass
class Landing:
    """Where the provider sent the browser back: the redirect URI's parameters."""

    params: dict[str, str]

    @property
    def code(self) -> str:
        return self.params["code"]

    @property
    def state(self) -> str:
        return self.params["state"]


class Browser:
    """A person's browser at the provider: follows redirects, keeps the provider's cookies
    (its session) and submits the sign-in and consent forms of the provider's pages."""

    def __init__(self) -> None:
        self.http = httpx.AsyncClient(follow_redirects=False, timeout=30)
        self.pages: list[str] = []  # interaction prompts shown, in order

    async def close(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def visit(self, url: str, login: str | None = None) -> Landing:
        answer = await self.http.get(url)
        for _ in range(20):
            if answer.is_redirect:
                target = urljoin(str(answer.url), answer.headers["location"])
                if target.startswith(REDIRECT_URI):
                    query = parse_qs(urlsplit(target).query)
                    return Landing({k: v[0] for k, v in query.items()})
                answer = await self.http.get(target)
                continue
            assert answer.status_code == 200, answer.text
            form = re.search(r'action="([^"]+)"', answer.text)
            assert form, answer.text
            action = urljoin(str(answer.url), form.group(1))
            if 'name="login"' in answer.text:
                assert login, "the provider asks to sign in"
                self.pages.append("login")
                data = {"prompt": "login", "login": login, "password": "any"}
            elif 'value="consent"' in answer.text:
                self.pages.append("consent")
                data = {"prompt": "consent"}
            else:
                raise AssertionError(f"unexpected page: {answer.text[:500]}")
            answer = await self.http.post(action, data=data)
        raise AssertionError("too many redirects")

    async def log_out(self, end_session_url: str) -> str:
        """Confirm the provider's logout page; where it sends the browser afterwards."""
        page = await self.http.get(end_session_url)
        assert page.status_code == 200, page.text
        form = re.search(r'action="([^"]+)"', page.text)
        xsrf = re.search(r'name="xsrf" value="([^"]+)"', page.text)
        assert form and xsrf, page.text
        answer = await self.http.post(
            urljoin(str(page.url), form.group(1)), data={"xsrf": xsrf.group(1), "logout": "yes"}
        )
        assert answer.is_redirect, answer.text
        return answer.headers["location"]
