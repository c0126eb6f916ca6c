"""Trusted proxies as networks: X-Forwarded-For and -Proto count only from a peer inside one
of KOHTAAMO_TRUSTED_PROXIES (uvicorn's proxy-header handling in every service's app), and
a malformed entry is refused at start instead of silently trusting nobody."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Request
from pydantic import ValidationError

from kit.app import Service
from kit.settings import KitSettings


def caller_app(settings: Any) -> Any:
    svc = Service("kittest", settings=settings)
    router = APIRouter()

    @router.get("/caller")
    async def caller(request: Request) -> dict[str, str | None]:
        host = request.client.host if request.client else None
        return {"client": host, "scheme": request.url.scheme}

    svc.include_router(router)
    return svc.create_app()


async def seen(app: Any, peer: str, headers: dict[str, str]) -> dict[str, str]:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        answer = await client.get("/caller", headers=headers)
        assert answer.status_code == 200
        return dict(answer.json())


async def test_forwarded_client_believed_only_from_trusted_networks(settings: Any) -> None:
    # The pod network of a cluster (any gateway pod) and one ingress address.
    app = caller_app(settings.model_copy(update={"trusted_proxies": ["10.128.0.0/14"]}))
    forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    assert await seen(app, "10.129.4.2", forwarded) == {"client": "203.0.113.7", "scheme": "https"}
    # A peer outside the networks: the headers are ignored.
    assert await seen(app, "10.200.0.1", forwarded) == {"client": "10.200.0.1", "scheme": "http"}
    # A chain: the nearest address that is not a trusted proxy is the client; what the client
    # itself wrote further left cannot spoof it.
    chain = {"X-Forwarded-For": "6.6.6.6, 198.51.100.4, 10.128.0.9"}
    assert (await seen(app, "10.129.4.2", chain))["client"] == "198.51.100.4"


async def test_no_trusted_proxies_ignores_forwarded_headers(settings: Any) -> None:
    app = caller_app(settings.model_copy(update={"trusted_proxies": []}))
    forwarded = {"X-Forwarded-For": "203.0.113.7"}
    assert (await seen(app, "127.0.0.1", forwarded))["client"] == "127.0.0.1"


def test_trusted_proxies_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOHTAAMO_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7,fd00::/8")
    assert KitSettings().trusted_proxies == ["10.0.0.0/8", "192.168.1.7/32", "fd00::/8"]
    monkeypatch.setenv("KOHTAAMO_TRUSTED_PROXIES", '["172.16.0.0/12"]')
    assert KitSettings().trusted_proxies == ["172.16.0.0/12"]
    # Host bits set: the network meant, not an error.
    monkeypatch.setenv("KOHTAAMO_TRUSTED_PROXIES", "10.1.2.3/16")
    assert KitSettings().trusted_proxies == ["10.1.0.0/16"]


@pytest.mark.parametrize("bad", ["*", "gateway", "10.0.0.0/33", "300.1.1.1", ""])
def test_malformed_trusted_proxy_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="trusted_proxies"):
        KitSettings(trusted_proxies=[bad])
