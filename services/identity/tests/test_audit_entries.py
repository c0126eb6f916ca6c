"""Identity's privileged actions commit their audit entry in their own transaction, the
no-ops too (a role granted again, an account enabled or disabled again) and those that
tell no other service (an enable, a new municipality): with every entry written after
an action made impossible (a crash there), each still answers and its entry is there,
found by the request's correlation id."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kit.app import Service
from kit.audit import Pending


def crash_after_commit(svc: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry written after its action (not in its transaction) fails, as a crash
    between the two would lose it."""

    async def crash(entry: Pending, outcome: str, status: int | None) -> None:
        raise RuntimeError(f"crashed before {entry.action}'s entry was written")

    monkeypatch.setattr(svc.audit, "_alone", crash)


async def entry_of(svc: Service, correlation_id: str) -> dict[str, Any]:
    [entry] = await svc.audit.collection.find({"correlation_id": correlation_id}).to_list()
    return entry


def calling(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "X-Correlation-ID": f"audit-{uuid.uuid4().hex}"}


async def test_role_and_account_changes_commit_their_entries_the_no_ops_too(
    svc: Service,
    client: httpx.AsyncClient,
    signup: Callable[..., Any],
    staff_user: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = await staff_user(["admin"])
    uid = (await signup())["user"]["id"]
    user = f"/municipalities/helsinki/users/{uid}"
    crash_after_commit(svc, monkeypatch)
    steps = [
        ("PUT", f"{user}/roles/mentor", "role.grant", ["mentor", "resident"]),
        ("PUT", f"{user}/roles/mentor", "role.grant", ["mentor", "resident"]),  # a no-op
        ("DELETE", f"{user}/roles/mentor", "role.revoke", ["resident"]),
        ("DELETE", f"{user}/roles/mentor", "role.revoke", ["resident"]),  # a no-op
        ("POST", f"{user}/disable", "user.disable", ["resident"]),
        ("POST", f"{user}/disable", "user.disable", ["resident"]),  # a no-op
        ("POST", f"{user}/enable", "user.enable", ["resident"]),  # tells no other service
        ("POST", f"{user}/enable", "user.enable", ["resident"]),  # a no-op
    ]
    for method, path, action, roles in steps:
        headers = calling(admin["headers"])
        answer = await client.request(method, path, headers=headers)
        assert answer.status_code == 200, (action, answer.text)
        assert answer.json()["roles"] == roles
        entry = await entry_of(svc, headers["X-Correlation-ID"])
        assert (entry["action"], entry["outcome"]) == (action, "success")
        assert entry["object"] == {"kind": "user", "id": uid}
        assert entry["actor"]["id"] == admin["user"]["id"]
    assert not svc.audit.outside


async def test_a_new_municipality_commits_its_entry(
    svc: Service,
    client: httpx.AsyncClient,
    staff_user: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    platform = await staff_user(["platform_admin"])
    slug = f"m-{uuid.uuid4().hex[:8]}"
    body = {"slug": slug, "name": {"fi": "Uusi"}}
    crash_after_commit(svc, monkeypatch)
    headers = calling(platform["headers"])
    created = await client.post("/municipalities", json=body, headers=headers)
    assert created.status_code == 201, created.text
    entry = await entry_of(svc, headers["X-Correlation-ID"])
    assert (entry["action"], entry["outcome"]) == ("municipality.create", "success")
    assert entry["object"] == {"kind": "municipality", "id": slug}

    # The same slug again: refused, and logged so (the refusal is written alone).
    monkeypatch.undo()
    headers = calling(platform["headers"])
    again = await client.post("/municipalities", json=body, headers=headers)
    assert again.status_code == 409, again.text
    entry = await entry_of(svc, headers["X-Correlation-ID"])
    assert (entry["outcome"], entry["status"]) == ("refused", 409)
    assert await svc.store.db.municipalities.count_documents({"_id": slug}) == 1
