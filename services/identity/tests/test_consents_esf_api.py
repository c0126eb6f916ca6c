"""Consents with history, and the ESF participant profile: stored apart, published only
with consent and only pseudonymously (keyed hash, age band; sensitive groups only with
their own consent), withdrawn when the consent is."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from contracts.pseudonym import participant_key

PSEUDONYM_KEY = "test-pseudonym-key-for-identity"
ESF = "kohtaamo.identity.participant.profile_changed.v1"


async def test_consents_have_history_and_events(
    client: httpx.AsyncClient, signup: Callable[..., Any], published: Any
) -> None:
    out = await signup(marketing=True)
    uid = out["user"]["id"]
    listed = (await client.get("/me/consents", headers=out["headers"])).json()
    assert {c["purpose"]: c["granted"] for c in listed["items"]} == {
        "marketing": True,
        "terms": True,
    }
    assert listed["total"] == 2 and listed["next"] is None

    off = await client.put(
        "/me/consents/marketing", json={"granted": False}, headers=out["headers"]
    )
    assert off.status_code == 200 and off.json()["granted"] is False
    assert [h["granted"] for h in off.json()["history"]] == [True, False]
    await published.wait(
        "kohtaamo.identity.consent.changed.v1", user_id=uid, purpose="marketing", granted=False
    )
    same = await client.put(
        "/me/consents/marketing", json={"granted": False}, headers=out["headers"]
    )
    assert len(same.json()["history"]) == 2  # no change, no new entry

    terms = await client.put("/me/consents/terms", json={"granted": False}, headers=out["headers"])
    assert terms.status_code == 409
    unknown = await client.put("/me/consents/spam", json={"granted": True}, headers=out["headers"])
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "purpose"


async def test_participant_profile_is_pseudonymous_and_follows_consent(
    client: httpx.AsyncClient, signup: Callable[..., Any], published: Any, ctx: Any
) -> None:
    out = await signup()
    uid = out["user"]["id"]
    key = participant_key(uid, PSEUDONYM_KEY)
    answers = {
        "gender": "woman",
        "birth_year": datetime.now(UTC).year - 40,
        "employment": "unemployed",
        "education": "isced_5_8",
        "foreign_background": True,
        "disability": None,  # prefer not to say
    }
    saved = await client.put("/me/participant-profile", json=answers, headers=out["headers"])
    assert saved.status_code == 200 and saved.json()["shared"] is False
    stored = await ctx.db.participant_profiles.find_one({"_id": uid})
    assert stored["answers"]["gender"] == "woman"
    assert await ctx.db.profiles.find_one({"_id": uid, "answers": {"$exists": True}}) is None

    granted = await client.put(
        "/me/consents/esf_statistics", json={"granted": True}, headers=out["headers"]
    )
    assert granted.status_code == 200
    [shared] = await published.wait(ESF, participant=key)
    data = shared["data"]
    assert data["age_band"] == "30_54" and data["gender"] == "woman"
    assert data["employment"] == "unemployed" and data["education"] == "isced_5_8"
    assert data["birth_year"] is None  # an age band, not a birth year
    assert data["foreign_background"] is None  # sensitive: needs its own consent
    assert shared.get("subject") is None
    assert uid not in str(shared)
    assert out["email"] not in str(shared)

    await client.put("/me/consents/esf_sensitive", json={"granted": True}, headers=out["headers"])
    events = await published.wait(ESF, 2, participant=key)
    assert events[1]["data"]["foreign_background"] is True
    assert events[1]["data"]["disability"] is None

    await client.put("/me/consents/esf_statistics", json={"granted": False}, headers=out["headers"])
    events = await published.wait(ESF, 3, participant=key)
    assert events[2]["data"]["withdrawn"] is True
    assert events[2]["data"]["gender"] == "not_given"
    mine = await client.get("/me/participant-profile", headers=out["headers"])
    assert mine.json()["shared"] is False and mine.json()["gender"] == "woman"

    bad = await client.put(
        "/me/participant-profile", json={"birth_year": 1800}, headers=out["headers"]
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "birth_year"
    assert (
        await client.delete("/me/participant-profile", headers=out["headers"])
    ).status_code == 204
    assert (await client.get("/me/participant-profile", headers=out["headers"])).status_code == 404


async def test_no_profile_is_shared_without_consent(
    client: httpx.AsyncClient, signup: Callable[..., Any], published: Any
) -> None:
    out = await signup()
    key = participant_key(out["user"]["id"], PSEUDONYM_KEY)
    await client.put("/me/participant-profile", json={"gender": "man"}, headers=out["headers"])
    # A marker event after it: once the marker has arrived, the profile would have too.
    await client.put("/me/consents/marketing", json={"granted": True}, headers=out["headers"])
    await published.wait(
        "kohtaamo.identity.consent.changed.v1", user_id=out["user"]["id"], purpose="marketing"
    )
    assert published.of(ESF, participant=key) == []
