"""Tokens are verified once at the edge: a bad token never reaches a service."""

from __future__ import annotations

from typing import Any

from kit.testing import TestIssuer


async def test_bad_tokens_stop_at_the_edge(
    make_gateway: Any, echoes: dict[str, Any], issuer: TestIssuer
) -> None:
    stranger = TestIssuer("https://identity.elsewhere.example")
    async with make_gateway({"events": echoes["events"].url}) as (client, _):
        before = echoes["events"].hits()
        cases = {
            "malformed": {"Authorization": "Bearer not-a-jwt"},
            "expired": issuer.headers(exp_in=-120),
            "untrusted issuer": stranger.headers(),
            "wrong scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
            "empty bearer": {"Authorization": "Bearer "},
        }
        for case, headers in cases.items():
            response = await client.get("/api/v1/events", headers=headers)
            assert response.status_code == 401, case
            assert response.headers["content-type"] == "application/problem+json", case
        assert echoes["events"].hits() == before
        ok = await client.get("/api/v1/events", headers=issuer.headers(roles=["staff"]))
        assert ok.status_code == 200
        assert echoes["events"].hits() == before + 1


async def test_partner_issuer_from_configuration(
    make_gateway: Any, echoes: dict[str, Any], partner_issuer: tuple[TestIssuer, str]
) -> None:
    """A partner's tokens are accepted when its issuer and JWKS URL are configured; the keys
    come over HTTP from the partner's JWKS endpoint (its own process here)."""
    partner, jwks_url = partner_issuer
    token = partner.token(municipality="kouvola")
    headers = {"Authorization": f"Bearer {token}"}
    async with make_gateway({"events": echoes["events"].url}) as (client, _):
        assert (await client.get("/api/v1/events", headers=headers)).status_code == 401
    trusted = [{"issuer": partner.issuer, "jwks_url": jwks_url}]
    async with make_gateway({"events": echoes["events"].url}, trusted_issuers=trusted) as (
        client,
        _,
    ):
        ok = await client.get("/api/v1/events", headers=headers)
        assert ok.status_code == 200
        assert ok.json()["headers"]["authorization"] == f"Bearer {token}"
