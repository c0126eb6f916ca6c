"""End to end: identity as its own process (`kohtaamo run identity`) on the real broker and
store. A sign-up over HTTP reaches a consumer bound to identity's exchange with the
CloudEvents fields and the request's correlation id; other services verify identity's
tokens from its JWKS over HTTP, refuse an untrusted issuer, and key rotation keeps tokens
that are still valid valid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import jwt
import pytest
from pymongo import AsyncMongoClient

from kit import localstore
from kit.auth import InvalidToken, TokenVerifier
from kit.settings import TrustedIssuer
from kit.testing import TestIssuer, drain, trust_env

PASSWORD = "correct horse battery"


@pytest.fixture
def process(make_settings: Callable[..., Any], tmp_path: Path) -> Iterator[dict[str, Any]]:
    settings = make_settings("identity")
    port = localstore.free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "KOHTAAMO_AMQP_URL": settings.amqp_url.get_secret_value(),
        **trust_env(settings),  # the run's broker users and site key
        "KOHTAAMO_MONGO_URL": settings.mongo_url.get_secret_value(),
        "KOHTAAMO_MONGO_DB_PREFIX": settings.mongo_db_prefix,
        "KOHTAAMO_IDENTITY_URL": url,
        "KOHTAAMO_PSEUDONYM_KEY": "process-test-pseudonym-key",
        "KOHTAAMO_KEY_ENCRYPTION_SECRET": "process-test-key-secret",
        "KOHTAAMO_ARGON2_TIME_COST": "1",
        "KOHTAAMO_ARGON2_MEMORY_KIB": "8192",
        "KOHTAAMO_LOG_FORMAT": "json",
        # Queue arguments must match those the in-process service of this run declared.
        "KOHTAAMO_DELIVERY_LIMIT": str(settings.delivery_limit),
        "KOHTAAMO_RETRY_DELAYS_MS": json.dumps(settings.retry_delays_ms),
    }
    kohtaamo = Path(sys.executable).parent / "kohtaamo"
    log_path = tmp_path / "identity.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(kohtaamo), "run", "identity", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield {
                "url": url,
                "log": log_path,
                "db": settings.mongo_db_prefix + "kohtaamo_identity",
                "mongo_url": settings.mongo_url.get_secret_value(),
            }
        finally:
            proc.terminate()
            proc.wait(20)


def wait_ready(url: str, log: Path, timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{url}/readyz", timeout=5)
            body: dict[str, Any] = response.json()
            last = body
            if response.status_code == 200:
                return body
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.3)
    raise AssertionError(f"identity not ready: {last}\n{log.read_text()[-3000:]}")


def verifier_for(url: str) -> TokenVerifier:
    return TokenVerifier(
        [TrustedIssuer(issuer=url, jwks_url=f"{url}/.well-known/jwks.json")],
        audience="kohtaamo",
        min_refresh_s=0.0,
    )


async def test_identity_process_end_to_end(process: dict[str, Any], amqp_url: str) -> None:
    url = process["url"]
    ready = wait_ready(url, process["log"])
    assert ready["checks"]["store"]["ok"] and ready["checks"]["broker"]["ok"]
    # This process's consumer (and the in-process service's, when other tests ran first).
    assert ready["checks"]["consumers"]["attached"]["kohtaamo.identity.erasures"] >= 1

    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        process["mongo_url"], retryWrites=False
    )
    db = mongo[process["db"]]
    await db.municipalities.insert_one(
        {"_id": "helsinki", "name": {"fi": "Helsinki"}, "languages": ["fi"], "timezone": "UTC"}
    )
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue("", exclusive=True)
        await queue.bind("kohtaamo.identity.events", routing_key="identity.#")
        async with httpx.AsyncClient(base_url=url, timeout=15) as client:
            email = f"e2e-{time.time_ns()}@example.fi"
            response = await client.post(
                "/auth/signup",
                json={
                    "municipality": "helsinki",
                    "email": email,
                    "password": PASSWORD,
                    "display_name": "Prosessi Testaaja",
                    "accept_terms": True,
                },
                headers={"X-Correlation-ID": "corr-identity-e2e"},
            )
            assert response.status_code == 201, response.text
            assert response.headers["X-Correlation-ID"] == "corr-identity-e2e"
            user_id = response.json()["user"]["id"]
            access = response.json()["tokens"]["access_token"]

            got = [m["body"] for m in await drain(queue, 3, timeout=40)]
            [registered] = [e for e in got if e["type"] == "kohtaamo.identity.user.registered.v1"]
            assert registered["specversion"] == "1.0"
            assert registered["source"] == "/kohtaamo/helsinki/identity"
            assert registered["datacontenttype"] == "application/json"
            assert registered["subject"] == f"user/{user_id}"
            assert registered["municipality"] == "helsinki"
            assert registered["id"] and registered["time"]
            assert registered["correlationid"] == "corr-identity-e2e"
            assert registered["data"]["user_id"] == user_id
            assert {e["correlationid"] for e in got} == {"corr-identity-e2e"}

            # Another service verifies identity's tokens from its JWKS over HTTP.
            verifier = verifier_for(url)
            principal = await verifier.verify(access)
            assert principal.subject == user_id and principal.municipality == "helsinki"
            assert principal.roles == frozenset({"resident"}) and principal.issuer == url
            with pytest.raises(InvalidToken, match="untrusted issuer"):
                await verifier.verify(TestIssuer("https://identity.partner.example").token())

            # Rotation by a platform admin keeps tokens signed with the old key valid.
            await db.users.update_one(
                {"_id": user_id}, {"$set": {"roles": ["platform_admin", "resident"]}}
            )
            login = {"municipality": "helsinki", "email": email, "password": PASSWORD}
            admin_token = (await client.post("/auth/login", json=login)).json()["access_token"]
            old_kid = jwt.get_unverified_header(admin_token)["kid"]
            rotated = await client.post(
                "/admin/keys/rotate", headers={"Authorization": f"Bearer {admin_token}"}
            )
            assert rotated.status_code == 200 and rotated.json()["kid"] != old_kid
            fresh = (await client.post("/auth/login", json=login)).json()["access_token"]
            assert jwt.get_unverified_header(fresh)["kid"] == rotated.json()["kid"]
            assert (await verifier.verify(fresh)).subject == user_id  # refetched on new kid
            assert (await verifier.verify(access)).subject == user_id
            # A verifier that never saw the old key still accepts the old, unexpired token.
            assert (await verifier_for(url).verify(access)).subject == user_id
            me = await client.get("/me", headers={"Authorization": f"Bearer {admin_token}"})
            assert me.status_code == 200
    finally:
        await connection.close()
        await mongo.close()
