"""Identity benchmarks, each against a baseline measured in the same run:

- login: full logins per second over ASGI (throttle check, account lookup, Argon2id verify
  with production cost, refresh-family insert, token signing) against bare Argon2id
  verifications per second with the same cost: the share of a login spent on the rest
  (ratio close to 1 means the password hash dominates, as intended).
- refresh: refresh-token rotations per second against single inserts per second into the
  same store (a rotation is one conditional update of the family, two reads and one
  signature).
- who_exists: median time of a wrong password for an unknown email against one for an
  existing account (interleaved): near 1 means timing does not tell who has an account.
- verify: token verifications per second by a kit TokenVerifier for identity's EdDSA tokens
  against RS256 tokens from kit.testing.TestIssuer (keys cached in both).

Run: `uv run python bench/identity_auth.py`. Results: bench/results/identity_auth.json
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import httpx
from argon2 import PasswordHasher

sys.path.insert(0, str(Path(__file__).parent))

from common import environment, write

from identity import municipality
from identity.core import identity_of
from identity.main import service
from identity.municipality import MunicipalityIn
from identity.settings import IdentitySettings
from kit.auth import TokenVerifier
from kit.testing import TestIssuer

N_LOGIN = 20
N_REFRESH = 100
N_VERIFY = 2000
N_WHO = 8
ISSUER = "http://identity.bench"
PASSWORD = "correct horse battery"


def rate(n: int, seconds: float) -> float:
    return round(n / seconds, 2)


async def run(env: dict[str, str]) -> dict[str, Any]:
    settings = IdentitySettings(  # type: ignore[call-arg]  # the rest from the environment
        amqp_url=env["amqp_url"],
        mongo_url=env["mongo_url"],
        mongo_db_prefix=f"b{env['run']}_",
        identity_url=ISSUER,
        key_encryption_secret="bench-secret",
        pseudonym_key="bench-pseudonym-key",
        log_level="WARNING",
        # Many failures from one address on purpose here; keep the throttle out of the way.
        login_max_failures_per_address=10_000,
        login_max_failures_per_address_account=10_000,
        login_max_failures_per_account=10_000,
    )
    svc = service(settings)
    app = svc.create_app()
    await svc.start()
    ctx = identity_of(svc)
    await municipality.ensure(ctx, MunicipalityIn(slug="helsinki", name={"fi": "Helsinki"}))
    # Nobody else is bound in the bench vhost: bind a sink so the outbox can publish.
    connection = await aio_pika.connect_robust(env["amqp_url"])
    channel = await connection.channel()
    sink = await channel.declare_queue("", exclusive=True)
    await sink.bind("kohtaamo.identity.events", routing_key="#")
    figures: dict[str, Any] = {}
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
            email = f"bench-{uuid.uuid4().hex[:6]}@example.fi"
            signup = await client.post(
                "/auth/signup",
                json={
                    "municipality": "helsinki",
                    "email": email,
                    "password": PASSWORD,
                    "display_name": "Bench",
                    "accept_terms": True,
                },
            )
            signup.raise_for_status()

            # login vs bare Argon2id at the same cost
            hasher = PasswordHasher(
                time_cost=settings.argon2_time_cost,
                memory_cost=settings.argon2_memory_kib,
                parallelism=settings.argon2_parallelism,
            )
            hashed = hasher.hash(PASSWORD)
            started = time.perf_counter()
            for _ in range(N_LOGIN):
                await asyncio.to_thread(hasher.verify, hashed, PASSWORD)
            argon = rate(N_LOGIN, time.perf_counter() - started)
            login = {"municipality": "helsinki", "email": email, "password": PASSWORD}
            started = time.perf_counter()
            refresh = ""
            for _ in range(N_LOGIN):
                response = await client.post("/auth/login", json=login)
                response.raise_for_status()
                refresh = response.json()["refresh_token"]
            logins = rate(N_LOGIN, time.perf_counter() - started)
            figures["login"] = {
                "logins_per_s": logins,
                "baseline_argon2_verifies_per_s": argon,
                "ratio": round(logins / argon, 3),
            }

            # wrong password for an existing account vs an unknown email (interleaved
            # medians): a ratio near 1 means response times do not tell who has an account
            known: list[float] = []
            unknown: list[float] = []
            for i in range(N_WHO):
                for email_, times in ((email, known), (f"nobody-{i}@example.fi", unknown)):
                    wrong = {"municipality": "helsinki", "email": email_, "password": "wrong-pw!"}
                    started = time.perf_counter()
                    response = await client.post("/auth/login", json=wrong)
                    times.append(time.perf_counter() - started)
                    assert response.status_code == 401, response.text
            figures["who_exists"] = {
                "unknown_median_ms": round(statistics.median(unknown) * 1000, 1),
                "baseline_known_median_ms": round(statistics.median(known) * 1000, 1),
                "ratio": round(statistics.median(unknown) / statistics.median(known), 3),
            }

            # refresh rotation vs raw single inserts
            scratch = svc.store.db[f"bench_{uuid.uuid4().hex[:6]}"]
            started = time.perf_counter()
            for i in range(N_REFRESH):
                await scratch.insert_one({"_id": i, "at": time.time()})
            inserts = rate(N_REFRESH, time.perf_counter() - started)
            started = time.perf_counter()
            for _ in range(N_REFRESH):
                response = await client.post("/auth/refresh", json={"refresh_token": refresh})
                response.raise_for_status()
                refresh = response.json()["refresh_token"]
            rotations = rate(N_REFRESH, time.perf_counter() - started)
            figures["refresh"] = {
                "rotations_per_s": rotations,
                "baseline_inserts_per_s": inserts,
                "ratio": round(rotations / inserts, 3),
            }
            access = response.json()["access_token"]

        # verification: identity's EdDSA vs TestIssuer's RS256, keys cached
        verifier = TokenVerifier([], audience="kohtaamo")
        verifier.trust(ISSUER, ctx.keys.jwks)
        rsa = TestIssuer()
        verifier.trust(rsa.issuer, rsa.jwks)
        rsa_token = rsa.token()
        await verifier.verify(access)
        await verifier.verify(rsa_token)
        started = time.perf_counter()
        for _ in range(N_VERIFY):
            await verifier.verify(rsa_token)
        rs256 = rate(N_VERIFY, time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(N_VERIFY):
            await verifier.verify(access)
        eddsa = rate(N_VERIFY, time.perf_counter() - started)
        figures["verify"] = {
            "eddsa_per_s": eddsa,
            "baseline_rs256_per_s": rs256,
            "ratio": round(eddsa / rs256, 3),
        }
        figures["settings"] = {
            "argon2_time_cost": settings.argon2_time_cost,
            "argon2_memory_kib": settings.argon2_memory_kib,
            "n_login": N_LOGIN,
            "n_refresh": N_REFRESH,
            "n_verify": N_VERIFY,
            "n_who_exists": N_WHO,
        }
    finally:
        await connection.close()
        await svc.stop()
    return figures


def main() -> None:
    with environment() as env:
        figures = asyncio.run(run(env))
    write("identity_auth", figures)


if __name__ == "__main__":
    main()
