"""Redirects a browser follows through the gateway of a real platform name the gateway,
never a service's internal address (a trailing slash on a list made events answer 307
with `Location: http://127.0.0.1:<events port>/events`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx


def test_trailing_slash_redirect_stays_on_the_gateway(platform: Any) -> None:
    internal = {urlsplit(url).netloc for url in platform.urls.values()}
    with httpx.Client(base_url=platform.gateway, timeout=30) as client:
        for path in ("/api/v1/events/", "/api/v1/resources/", "/api/v1/locations/"):
            answer = client.get(path, follow_redirects=False)
            if answer.is_redirect:
                location = answer.headers["Location"]
                assert location.startswith("/api/v1/"), (path, location)
                assert not any(host in location for host in internal), (path, location)
                assert location == path.rstrip("/"), (path, location)
                followed = client.get(location)  # the list itself (some need a sign-in)
                assert followed.status_code in (200, 401), (path, followed.text)
            else:
                assert answer.status_code in (200, 404), (path, answer.status_code)
            assert "127.0.0.1" not in answer.headers.get("Location", "")
