"""Demo data: venues incl. Avaa tila places and published events for both
municipalities; a second run changes nothing."""

from __future__ import annotations

from typing import Any

from events.seed import seed


async def test_seed_is_idempotent(svc: Any, api: Any) -> None:
    first = await seed(svc)
    again = await seed(svc)
    assert first == {"venues": 6, "events": 7} and again == {"venues": 0, "events": 0}
    for municipality in ("helsinki", "kouvola"):
        r = await api.client.get(
            "/events", params={"municipality": municipality, "kind": "avaa_tila", "limit": 100}
        )
        popups = {e["id"]: e for e in r.json()["items"]}
        popup = popups[{"helsinki": "evt-hki-popup", "kouvola": "evt-kvl-popup"}[municipality]]
        assert popup["status"] == "published" and popup["venue_kind"] in ("park", "cafe")
        assert popup["registration_required"] is False
    r = await api.client.get("/venues", params={"municipality": "helsinki", "kind": "park"})
    assert "ven-hki-esplanadi" in [v["id"] for v in r.json()["items"]]
