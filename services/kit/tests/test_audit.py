"""The audit log (kit.audit) against the real embedded store: an action and its entry
commit together (and a refused one leaves only a `refused` entry), many parallel actions
write one entry each, retention purges old entries by the TTL index, the reads are an
admin's of their own municipality, paged, filtered and exported formula-safe, and nothing
in the API changes or deletes an entry."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends

from kit import audit
from kit.app import Service
from kit.auth import Principal
from kit.problems import Problem
from kit.testing import TestIssuer, envelope

ISSUER = TestIssuer()
HERE, THERE = "helsinki", "kouvola"
THING = "kohtaamo.kittest.thing.happened.v1"  # registered in conftest.py


def service(settings: Any) -> Service:
    svc = Service("audittest", settings=settings)
    svc.verifier.trust(ISSUER.issuer, ISSUER.jwks)
    api = APIRouter(tags=["things"])

    @api.post("/things/{thing_id}/close")
    async def close(
        thing_id: str,
        refuse: bool = False,
        after: bool = False,
        principal: Principal = Depends(svc.auth.principal),
    ) -> dict[str, str]:
        async with svc.audit.action(principal, "thing.close", "thing", thing_id) as entry:
            entry.note(refuse=refuse)

            async def work(uow: Any) -> bool:
                if after:  # finds nothing to do, and the refusal comes after the commit
                    return False
                await uow.db.things.insert_one({"_id": thing_id}, session=uow.session)
                await uow.emit(envelope(THING, {"thing_id": thing_id}))
                if refuse:
                    raise Problem(409, "Conflict", "Not now.", field="thing_id")
                return True

            if not await svc.uow.run(work):
                raise Problem(409, "Conflict", "Nothing to close.", field="thing_id")
        return {"closed": thing_id}

    svc.include_router(api)
    svc.include_router(audit.router(svc))
    return svc


@pytest.fixture(scope="module")
async def svc(make_settings: Any) -> AsyncIterator[Service]:
    made = service(make_settings("audittest", audit_export_max_rows=1000))
    await made.audit.ensure_indexes()
    yield made
    await made.store.close()


@pytest.fixture
async def client(svc: Service) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=svc.create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as made:
        yield made


def caller(*roles: str, municipality: str = HERE, sub: str | None = None) -> dict[str, str]:
    token = ISSUER.token(
        sub=sub or f"u-{uuid.uuid4().hex[:8]}", roles=list(roles), municipality=municipality
    )
    return {"Authorization": f"Bearer {token}", "X-Correlation-ID": f"c-{uuid.uuid4().hex}"}


async def test_an_action_and_its_entry_commit_together(
    svc: Service, client: httpx.AsyncClient
) -> None:
    thing = f"t-{uuid.uuid4().hex[:8]}"
    who = caller("staff", sub="actor-1")
    done = await client.post(f"/things/{thing}/close", headers=who)
    assert done.status_code == 200, done.text
    entries = await svc.audit.collection.find({"object.id": thing}).to_list()
    assert len(entries) == 1
    entry = entries[0]
    assert entry["action"] == "thing.close" and entry["outcome"] == "success"
    assert entry["actor"] == {"id": "actor-1", "roles": ["staff"], "municipality": HERE}
    assert entry["correlation_id"] == who["X-Correlation-ID"]
    assert entry["object"] == {"kind": "thing", "id": thing} and entry["municipality"] == HERE
    assert entry["details"] == {"refuse": False}

    # Refused in its transaction: nothing of the action stays, the refusal is logged.
    other = f"t-{uuid.uuid4().hex[:8]}"
    refused = await client.post(f"/things/{other}/close", params={"refuse": "true"}, headers=who)
    assert refused.status_code == 409
    assert await svc.store.db.things.find_one({"_id": other}) is None
    entries = await svc.audit.collection.find({"object.id": other}).to_list()
    assert [(e["outcome"], e["status"]) for e in entries] == [("refused", 409)]

    # A transaction that changed nothing does not take the entry as a success.
    third = f"t-{uuid.uuid4().hex[:8]}"
    late = await client.post(f"/things/{third}/close", params={"after": "true"}, headers=who)
    assert late.status_code == 409
    entries = await svc.audit.collection.find({"object.id": third}).to_list()
    assert [(e["outcome"], e["status"]) for e in entries] == [("refused", 409)]


async def test_a_standalone_action_is_written_when_it_ends(
    svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    who = Principal("p-1", HERE, frozenset({"admin"}), ISSUER.issuer)
    units: list[int] = []
    # Its own small unit of work (svc.uow), not a bare insert.
    monkeypatch.setattr(svc.uow, "committed", lambda uow, staged=False: units.append(uow.staged))
    async with svc.audit.action(
        who, "report.export", "report", "usage", standalone=True, fmt="csv"
    ) as entry:
        assert await svc.audit.collection.find_one({"_id": entry.id}) is None
    assert units == [0]
    written = await svc.audit.collection.find_one({"_id": entry.id})
    assert written is not None and written["details"] == {"fmt": "csv"}
    assert audit.pending() is None  # the context is left as it was
    assert "report.export" not in svc.audit.outside


async def test_a_change_without_its_entry_in_its_transaction_is_counted(svc: Service) -> None:
    who = Principal("p-1", HERE, frozenset({"admin"}), ISSUER.issuer)
    before = svc.audit.outside["thing.touch"]
    async with svc.audit.action(who, "thing.touch", "thing", "t-quiet") as entry:
        async with svc.uow() as uow:  # commits a change that stages no events
            await uow.db.things.insert_one({"_id": f"q-{uuid.uuid4().hex}"}, session=uow.session)
    # Still written (not lost), but after the commit: counted and logged as a defect.
    assert await svc.audit.collection.find_one({"_id": entry.id}) is not None
    assert svc.audit.outside["thing.touch"] == before + 1
    # Declared (`any_transaction`), the same transaction takes the entry.
    async with svc.audit.action(who, "thing.touch", "thing", "t-quiet") as entry:
        entry.any_transaction = True
        async with svc.uow() as uow:
            await uow.db.things.insert_one({"_id": f"q-{uuid.uuid4().hex}"}, session=uow.session)
            assert await svc.audit.collection.find_one({"_id": entry.id}) is None
    assert await svc.audit.collection.find_one({"_id": entry.id}) is not None
    assert svc.audit.outside["thing.touch"] == before + 1


async def test_many_parallel_actions_write_one_entry_each(
    svc: Service, client: httpx.AsyncClient
) -> None:
    things = [f"p-{uuid.uuid4().hex[:8]}" for _ in range(20)]
    who = caller("staff")
    answers = await asyncio.gather(
        *(client.post(f"/things/{t}/close", headers=who) for t in things)
    )
    assert all(a.status_code == 200 for a in answers)
    found = await svc.audit.collection.find({"object.id": {"$in": things}}).to_list()
    assert sorted(e["object"]["id"] for e in found) == sorted(things)


def test_details_are_bounded() -> None:
    who = Principal("p", HERE, frozenset({"admin"}), "iss")
    entry = audit.Pending(who, "a", "k", "x" * 500, HERE, {"long": "y" * 1000})
    entry.note(**{f"k{i}": i for i in range(40)}, roles=["a", "b"], obj={"nested": 1})
    assert len(entry.details) == audit.DETAILS_MAX
    assert entry.details["long"] == "y" * audit.DETAIL_TEXT_MAX
    assert len(entry.object_id) == 200


async def test_retention_purges_old_entries(svc: Service, make_settings: Any) -> None:
    old = {"_id": f"old-{uuid.uuid4().hex}", "at": datetime.now(UTC) - timedelta(days=800)}
    new = {"_id": f"new-{uuid.uuid4().hex}", "at": datetime.now(UTC) - timedelta(days=700)}
    await svc.audit.collection.insert_many([old, new])
    # The embedded store's TTL sweeper runs every minute; its admin command runs it now.
    await svc.store.client.admin.command("secantusAdmin.pruneTtl")
    ids = {
        d["_id"]
        for d in await svc.audit.collection.find(
            {"_id": {"$in": [old["_id"], new["_id"]]}}
        ).to_list()
    }
    assert ids == {new["_id"]}  # 730 days by default
    # A shorter retention applies to the entries already there.
    shorter = audit.AuditLog(svc.store, make_settings("audittest", audit_retention_days=600))
    await shorter.ensure_indexes()
    await svc.store.client.admin.command("secantusAdmin.pruneTtl")
    assert await svc.audit.collection.find_one({"_id": new["_id"]}) is None
    await svc.audit.ensure_indexes()  # back to the module's retention
    info = await svc.audit.collection.index_information()
    assert info[audit.TTL_INDEX]["expireAfterSeconds"] == 730 * 86_400


async def test_admins_read_their_own_municipality(svc: Service, client: httpx.AsyncClient) -> None:
    actor = f"reader-{uuid.uuid4().hex[:6]}"
    things = [f"r-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for thing in things:
        assert (
            await client.post(f"/things/{thing}/close", headers=caller("staff", sub=actor))
        ).status_code == 200
    admin = caller("admin")
    first = await client.get("/audit", params={"actor": actor, "limit": 2}, headers=admin)
    assert first.status_code == 200, first.text
    body = first.json()
    assert [e["object"]["id"] for e in body["items"]] == things[::-1][:2]  # newest first
    assert body["next"] and "offset=2" in body["next"]
    rest = await client.get(body["next"].replace("http://svc", ""), headers=admin)
    assert [e["object"]["id"] for e in rest.json()["items"]] == [things[0]]
    assert rest.json()["next"] is None

    one = await client.get(
        "/audit", params={"object_kind": "thing", "object_id": things[1]}, headers=admin
    )
    assert [e["object"]["id"] for e in one.json()["items"]] == [things[1]]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    later = await client.get("/audit", params={"actor": actor, "from": future}, headers=admin)
    assert later.json()["items"] == []
    naive = await client.get("/audit", params={"from": "2026-01-01T00:00:00"}, headers=admin)
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "from"

    # A platform admin reads any municipality; nobody else reads another's or at all.
    site = await client.get(
        "/audit",
        params={"municipality": HERE, "actor": actor},
        headers=caller("platform_admin", municipality=THERE),
    )
    assert len(site.json()["items"]) == 3
    for headers in (caller("staff"), caller("resident"), caller("analyst")):
        assert (await client.get("/audit", headers=headers)).status_code == 403
    elsewhere = caller("admin", municipality=THERE)
    assert (
        await client.get("/audit", params={"municipality": HERE}, headers=elsewhere)
    ).status_code == 403
    assert (
        await client.get("/audit/export", params={"municipality": HERE}, headers=elsewhere)
    ).status_code == 403
    assert (await client.get("/audit")).status_code == 401
    # Append-only: no way to change or delete an entry.
    entry_id = body["items"][0]["id"]
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        for path in ("/audit", f"/audit/{entry_id}"):
            answer = await client.request(method, path, headers=admin, json={})
            assert answer.status_code in (404, 405), (method, path, answer.status_code)
    assert await svc.audit.collection.count_documents({"_id": entry_id}) == 1


async def test_the_export_is_formula_safe_and_logged(
    svc: Service, client: httpx.AsyncClient
) -> None:
    thing = f'=HYPERLINK("x")-{uuid.uuid4().hex[:6]}'
    assert (await client.post(f"/things/{thing}/close", headers=caller("staff"))).status_code == 200
    exporter = f"exporter-{uuid.uuid4().hex[:6]}"
    admin = caller("admin", sub=exporter)
    answer = await client.get("/audit/export", params={"object_id": thing}, headers=admin)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.text.lstrip("\ufeff"))))
    assert rows[0] == list(audit.HEADER) and len(rows) == 2
    assert rows[1][audit.HEADER.index("object_id")] == "'" + thing
    xlsx = await client.get(
        "/audit/export", params={"object_id": thing, "format": "xlsx"}, headers=admin
    )
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    logged = await svc.audit.collection.find({"actor.id": exporter}).to_list()
    assert sorted(e["details"]["format"] for e in logged) == ["csv", "xlsx"]
    assert {e["action"] for e in logged} == {"audit.export"}
    assert all(e["correlation_id"] == admin["X-Correlation-ID"] for e in logged)
    # The export's file name comes from the municipality: only a slug is taken (a
    # right-to-left mark once made the header unencodable, a 500).
    for bad in ("hel\u202esinki", "Helsinki", "x" * 41):
        refused = await client.get(
            "/audit/export", params={"municipality": bad}, headers=caller("platform_admin")
        )
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["errors"][0]["field"] == "municipality"
    named = await client.get("/audit/export", headers=admin)
    assert named.headers["content-disposition"] == (
        f'attachment; filename="audit-audittest-{HERE}.csv"'
    )


async def test_an_export_is_never_served_without_its_entry(
    svc: Service, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = caller("admin")
    answer = await client.get("/audit/export", headers=admin)
    assert answer.status_code == 200
    # The entry is there when the answer arrives.
    [entry] = await svc.audit.collection.find(
        {"correlation_id": admin["X-Correlation-ID"]}
    ).to_list()
    assert (entry["action"], entry["outcome"]) == ("audit.export", "success")

    async def lost(*_: Any) -> None:
        raise RuntimeError("the store went away")

    monkeypatch.setattr(svc.audit, "_alone", lost)
    quiet = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=svc.create_app(), raise_app_exceptions=False),
        base_url="http://svc",
    )
    async with quiet:
        failed = await quiet.get("/audit/export", headers=caller("admin"))
    # A problem, not the file (its header names `actor_roles`).
    assert failed.status_code == 500 and "actor_roles" not in failed.text
    assert failed.headers["content-type"] == "application/problem+json"
