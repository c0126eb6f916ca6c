"""Events' privileged actions commit their audit entry in their own transaction, those
that stage no events too (a draft cancelled, a series of drafts cancelled, an import of
drafts or of events already here); a participant export is never served without its
entry. An entry written after its action is made impossible here (a crash there)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from events.settings import EventsSettings
from kit.app import Service
from kit.audit import Pending

from .conftest import helsinki_now


def crash_after_commit(svc: Service[EventsSettings], monkeypatch: pytest.MonkeyPatch) -> None:
    async def crash(entry: Pending, outcome: str, status: int | None) -> None:
        raise RuntimeError(f"crashed before {entry.action}'s entry was written")

    monkeypatch.setattr(svc.audit, "_alone", crash)


async def call(api: Any, method: str, path: str, **kw: Any) -> tuple[httpx.Response, str]:
    cid = f"audit-{uuid.uuid4().hex}"
    headers = {**api.auth(), "X-Correlation-ID": cid}
    return await api.client.request(method, path, headers=headers, **kw), cid


async def entry_of(svc: Service[EventsSettings], cid: str) -> dict[str, Any]:
    [entry] = await svc.audit.collection.find({"correlation_id": cid}).to_list()
    return entry


async def test_changes_without_events_commit_their_entries(
    api: Any, svc: Service[EventsSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    draft = await api.event(publish=False)
    first = (helsinki_now() + timedelta(days=40)).replace(microsecond=0)
    template = {
        "kind": "course",
        "title": {"fi": "Kurssi"},
        "starts_at": first.isoformat(),
        "ends_at": (first + timedelta(hours=1)).isoformat(),
    }
    body = {"template": template, "recurrence": {"frequency": "weekly", "count": 2}}
    made = await api.client.post("/series", json=body, headers=api.auth())
    assert made.status_code == 201, made.text
    series_id = made.json()["id"]
    word = uuid.uuid4().hex[:10]
    imported = [
        {**template, "title": {"fi": f"Tuotu {word}"}, "source_id": f"test:{word}"},
    ]
    crash_after_commit(svc, monkeypatch)
    steps = [
        ("POST", f"/events/{draft['id']}/cancel", {}, 200, "event.cancel"),
        ("POST", f"/series/{series_id}/cancel", {}, 200, "series.cancel"),
        ("POST", "/events/import", {"events": imported, "publish": False}, 201, "event.import"),
        # The same again: nothing new, nothing staged.
        ("POST", "/events/import", {"events": imported, "publish": False}, 201, "event.import"),
    ]
    for method, path, payload, status, action in steps:
        answer, cid = await call(api, method, path, json=payload)
        assert answer.status_code == status, (action, answer.text)
        entry = await entry_of(svc, cid)
        assert (entry["action"], entry["outcome"]) == (action, "success")
    assert not svc.audit.outside


async def test_a_participant_export_is_never_served_without_its_entry(
    api: Any, app: Any, svc: Service[EventsSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    event = await api.event(capacity=5)
    assert (await api.register(event["id"], f"exp-{uuid.uuid4().hex[:6]}")).status_code == 201
    path = f"/events/{event['id']}/registrations.csv"
    answer, cid = await call(api, "GET", path)
    assert answer.status_code == 200 and answer.text.count("\n") == 2
    entry = await entry_of(svc, cid)  # there when the answer arrives
    assert (entry["action"], entry["details"]["rows"]) == ("registrations.export", 1)

    crash_after_commit(svc, monkeypatch)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://events.test") as quiet:
        failed = await quiet.get(path, headers=api.auth())
    assert failed.status_code == 500
    assert failed.headers["content-type"] == "application/problem+json"
    assert "registration_id" not in failed.text  # not the file
