"""Analytics' audited actions have no transaction of their own (a report export reads; a
rebuild drops collections): each is declared standalone, its entry written in a unit of
work of its own before the answer, so a report is never served without its entry."""

from __future__ import annotations

import uuid

import httpx
import pytest

from kit.audit import Pending

from .conftest import Harness


async def test_an_export_and_a_rebuild_have_their_entries_before_the_answer(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = harness.svc
    calls = [
        ("GET", "/analytics/exports/usage.csv", ["staff"], "report.export"),
        ("POST", "/analytics/rebuild", ["admin"], "projections.rebuild"),
    ]
    for method, path, roles, action in calls:
        cid = f"audit-{uuid.uuid4().hex}"
        headers = {**harness.headers(roles=roles), "X-Correlation-ID": cid}
        answer = await harness.client.request(method, path, headers=headers)
        assert answer.status_code == 200, answer.text
        [entry] = await svc.audit.collection.find({"correlation_id": cid}).to_list()
        assert (entry["action"], entry["outcome"]) == (action, "success")
    assert not svc.audit.outside

    async def crash(entry: Pending, outcome: str, status: int | None) -> None:
        raise RuntimeError(f"crashed before {entry.action}'s entry was written")

    monkeypatch.setattr(svc.audit, "_alone", crash)
    transport = httpx.ASGITransport(app=svc.create_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as quiet:
        failed = await quiet.get("/analytics/exports/usage.csv", headers=harness.headers())
    assert failed.status_code == 500  # the report is not served without its entry
    assert failed.headers["content-type"] == "application/problem+json"
