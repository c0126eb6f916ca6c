"""Every endpoint x every role x own/other municipality, on real records.

Each installed service (not the gateway) runs in this process on the run's broker and
store. Records are first created in the owning municipality (helsinki) through the
service's own API: a resident's booking, registration, organisation, notices and so on,
so that path parameters point at real things. Then every non-open operation is called by
a token of every platform role of helsinki and of kouvola, and by the records' owner.

Expected access comes from the routes themselves: the role a route requires is read from
its FastAPI dependency (`auth.require(*roles)`); what the handler checks on top (tenant,
ownership) is held to these invariants:

- never 5xx; every 4xx is problem+json;
- a role the route does not admit gets 401/403 (or 404);
- a caller of the other municipality never gets 2xx on an operation that names a record
  or the municipality of the owner (path parameter, `municipality=` query, or a record
  id in the body such as the venue of a new event or the room of a booking), except
  what is public (an anonymous call answers 2xx) or declared in `CROSS_ALLOWED`;
- no 2xx answer shows the owner's private markers (user id, email, booking, registration
  and notice ids) to anyone but the owner and the owner municipality's staff and admins,
  except on capability URLs (`CAPABILITIES`: the secret in the path is the permission);
- every GET answers 2xx to someone (the records are real and the matrix is not vacuous);
- every privileged action (`AUDITED`) leaves exactly one audit entry (kit.audit) with the
  caller as actor, the object the path names and the request's correlation id: `success`
  when it answered 2xx; several of them sent at once leave one entry each; no change's
  entry was written after its transaction (`AuditLog.outside` is empty); the audit log
  is read by the owner municipality's admins (and platform admins) only, and nothing in
  the API changes or deletes an entry.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from contracts import identity as idc
from kit import auth, registry
from kit.testing import TestIssuer, envelope, eventually, publish_as_producer, service_env

OWNER, OTHER = "helsinki", "kouvola"
# Every role the platform knows: the kit's municipal and network roles plus identity's
# site-running network role (docs/identity.md, "Roles").
ROLES = tuple(dict.fromkeys((*auth.ROLES, "platform_admin")))
OPEN = {"/healthz", "/readyz", "/readyz/consumers", "/metrics", "/.well-known/jwks.json"}
PASSWORD = "role-matrix-Salasana-2026"

# Operations a caller of another municipality may answer 2xx although they name the
# owner's record or municipality: (service, method, path) -> roles (None: any role).
CROSS_ALLOWED: dict[tuple[str, str, str], frozenset[str] | None] = {
    # A published event is open to everyone; anyone signed in may sign up for it.
    ("events", "POST", "/events/{event_id}/registrations"): None,
    # Platform admins grant and revoke roles anywhere (docs/identity.md).
    ("identity", "PUT", "/municipalities/{municipality}/users/{user_id}/roles/{role}"): (
        frozenset({"platform_admin"})
    ),
    ("identity", "DELETE", "/municipalities/{municipality}/users/{user_id}/roles/{role}"): (
        frozenset({"platform_admin"})
    ),
    # The network role reads aggregates across municipalities (docs/analytics.md).
    ("analytics", "GET", "/analytics/reports/{name}"): frozenset({"analyst"}),
    ("analytics", "GET", "/analytics/exports/{name}.{fmt}"): frozenset({"analyst"}),
    ("analytics", "GET", "/analytics/charts/{name}.{fmt}"): frozenset({"analyst"}),
    ("analytics", "GET", "/analytics/dashboard"): frozenset({"analyst"}),
}
# A platform admin reads every municipality's audit log (kit.audit, docs/identity.md).
AUDIT_READS = ("/audit", "/audit/export")
for _service in ("identity", "events", "bookings", "analytics"):
    for _path in AUDIT_READS:
        CROSS_ALLOWED[(_service, "GET", _path)] = frozenset({"platform_admin"})


def staff_of_owner(caller: Caller) -> bool:
    return caller.municipality == OWNER and bool(caller.roles & {"staff", "admin"})


# The privileged actions each service audits: (service, method, path) -> the action, the
# path parameter naming its object (None: not from the path), and whose calls are audited
# (None: everyone's; a person cancelling their own booking is no privileged action).
AUDITED: dict[tuple[str, str, str], tuple[str, str | None, Callable[[Caller], bool] | None]] = {
    ("identity", "PUT", "/municipalities/{municipality}/users/{user_id}/roles/{role}"): (
        "role.grant",
        "user_id",
        None,
    ),
    ("identity", "DELETE", "/municipalities/{municipality}/users/{user_id}/roles/{role}"): (
        "role.revoke",
        "user_id",
        None,
    ),
    ("identity", "POST", "/municipalities/{municipality}/users/{user_id}/disable"): (
        "user.disable",
        "user_id",
        None,
    ),
    ("identity", "POST", "/municipalities/{municipality}/users/{user_id}/enable"): (
        "user.enable",
        "user_id",
        None,
    ),
    ("identity", "POST", "/municipalities/{municipality}/users/{user_id}/erase"): (
        "user.erase",
        "user_id",
        None,
    ),
    ("identity", "POST", "/municipalities"): ("municipality.create", None, None),
    ("identity", "POST", "/admin/keys/rotate"): ("keys.rotate", None, None),
    ("events", "POST", "/events/{event_id}/publish"): ("event.publish", "event_id", None),
    ("events", "POST", "/events/{event_id}/cancel"): ("event.cancel", "event_id", None),
    ("events", "POST", "/events/import"): ("event.import", None, None),
    ("events", "POST", "/series/{series_id}/publish"): ("series.publish", "series_id", None),
    ("events", "POST", "/series/{series_id}/cancel"): ("series.cancel", "series_id", None),
    ("events", "GET", "/events/{event_id}/registrations.csv"): (
        "registrations.export",
        "event_id",
        None,
    ),
    ("events", "GET", "/events/{event_id}/registrations.xlsx"): (
        "registrations.export",
        "event_id",
        None,
    ),
    ("bookings", "POST", "/bookings/{booking_id}/cancel"): (
        "booking.cancel",
        "booking_id",
        lambda caller: staff_of_owner(caller) and not caller.owner,
    ),
    ("bookings", "POST", "/bookings/{booking_id}/approve"): ("booking.approve", "booking_id", None),
    ("bookings", "POST", "/bookings/{booking_id}/deny"): ("booking.deny", "booking_id", None),
    ("bookings", "POST", "/resources/{resource_id}/blocks"): (
        "resource.block",
        "resource_id",
        None,
    ),
    ("bookings", "DELETE", "/blocks/{block_id}"): ("block.lift", "block_id", None),
    ("bookings", "PUT", "/locations/{location_id}/hours"): (
        "location.hours",
        "location_id",
        None,
    ),
    ("analytics", "GET", "/analytics/exports/{name}.{fmt}"): ("report.export", "name", None),
    ("analytics", "POST", "/analytics/rebuild"): ("projections.rebuild", None, None),
}
for _service in ("identity", "events", "bookings", "analytics"):
    AUDITED[(_service, "GET", "/audit/export")] = ("audit.export", None, None)

# Secrets in the request are the permission: whoever holds them may read the answer.
CAPABILITIES = {
    ("bookings", "GET", "/feeds/{token}.ics"),
    ("identity", "GET", "/erasures/{receipt}"),
    # The owner's password is the permission to their account.
    ("identity", "POST", "/auth/login"),
}
# Path parameters that are not records of the owner (enums, the caller's own consent).
UNSCOPED_PARAMS = {"name", "fmt", "purpose", "role"}


@dataclass
class Caller:
    label: str
    municipality: str
    roles: frozenset[str]
    headers: dict[str, str]
    owner: bool = False
    subject: str = ""


@dataclass
class Fixture:
    """The records of the owning municipality and how to call operations on them."""

    params: dict[str, str]
    # Path parameters of one operation that differ from `params`.
    params_for: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    bodies: dict[tuple[str, str], Any] = field(default_factory=dict)
    query: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    markers: set[str] = field(default_factory=set)
    owner: list[Caller] = field(default_factory=list)
    strangers: list[Caller] = field(default_factory=list)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def callers(issuer: TestIssuer) -> list[Caller]:
    # The other municipality first: the owner's staff may change records (cancel, erase).
    found = []
    for municipality in (OTHER, OWNER):
        for role in ROLES:
            sub = f"{role}-{municipality}-{uuid.uuid4().hex[:6]}"
            token = issuer.token(sub=sub, roles=[role], municipality=municipality)
            label = f"{role}@{municipality}"
            found.append(Caller(label, municipality, frozenset({role}), bearer(token), False, sub))
    return found


def local(days: int, hhmm: str) -> str:
    """A naive local time in the owner's zone, `days` from now."""
    day = datetime.now(ZoneInfo("Europe/Helsinki")).date() + timedelta(days=days)
    return f"{day.isoformat()}T{hhmm}:00"


def zoned(days: int, hhmm: str) -> str:
    """`local` with the owner's zone offset (for APIs that want aware times)."""
    naive = datetime.fromisoformat(local(days, hhmm))
    return naive.replace(tzinfo=ZoneInfo("Europe/Helsinki")).isoformat()


def aware(days: int, hours: int = 0) -> str:
    start = datetime.now(ZoneInfo("Europe/Helsinki")).replace(microsecond=0, second=0, minute=0)
    return (start + timedelta(days=days, hours=hours)).isoformat()


def resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def sample(schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    """A minimal value of a schema: required fields only, first enum value."""
    schema = resolve(schema, spec)
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return sample(options[0], spec) if options else None
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: sample(props[name], spec) for name in schema.get("required", [])}
    if kind == "array":
        return []
    if kind == "integer" or kind == "number":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "boolean":
        return True
    if schema.get("format") == "date-time":
        return aware(3)
    if schema.get("format") == "date":
        return local(3, "00:00")[:10]
    return "x"


def api_routes(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        if hasattr(route, "dependant"):
            yield route
        # FastAPI keeps included routers as wrappers around the original router.
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)


def declared_roles(route: Any) -> frozenset[str] | None:
    """The roles a route's dependencies admit (`require(*roles)`); None: any token."""
    found: frozenset[str] | None = None

    def walk(dependant: Any) -> None:
        nonlocal found
        for dep in dependant.dependencies:
            call = dep.call
            if "require.<locals>" in getattr(call, "__qualname__", ""):
                roles = inspect.getclosurevars(call).nonlocals.get("roles")
                assert roles, f"cannot read the roles of {route.path}"
                found = frozenset(roles) if found is None else found & frozenset(roles)
            walk(dep)

    walk(route.dependant)
    return found


# Setting up each service's records ------------------------------------------------------

Client = httpx.AsyncClient


async def ok(call: Callable[[], Awaitable[httpx.Response]]) -> Any:
    for _ in range(10):
        answer = await call()
        if answer.status_code != 409 or "Retry-After" not in answer.headers:
            break
        await asyncio.sleep(0.2)  # a write conflict of the store: retrying is safe
    assert answer.status_code < 300, (
        f"setup {answer.request.url}: {answer.status_code} {answer.text}"
    )
    return answer.json() if answer.content else None


async def identity_records(client: Client, issuer: TestIssuer, svc: Any) -> Fixture:
    site = bearer(issuer.token(roles=["platform_admin"], municipality=OWNER))
    for slug in (OWNER, OTHER):
        await ok(
            lambda slug=slug: client.post(
                "/municipalities", json={"slug": slug, "name": {"fi": slug}}, headers=site
            )
        )

    async def signup(municipality: str, name: str) -> tuple[str, str, str]:
        email = f"{name}-{uuid.uuid4().hex[:8]}@example.org"
        body = {
            "municipality": municipality,
            "email": email,
            "password": PASSWORD,
            "display_name": name,
            "accept_terms": True,
        }
        made = await ok(lambda: client.post("/auth/signup", json=body))
        return made["user"]["id"], email, made["tokens"]["access_token"]

    owner_id, owner_email, owner_token = await signup(OWNER, "Omistaja")
    owner = bearer(owner_token)
    await ok(lambda: client.put("/me/profile", json={"visibility": "private"}, headers=owner))
    spec = svc.app.openapi()
    org_body = sample(spec["components"]["schemas"]["OrganisationIn"], spec)
    org_body["name"] = "Omistajan yhdistys"
    org = await ok(lambda: client.post("/organisations", json=org_body, headers=owner))
    await ok(
        lambda: client.put("/me/participant-profile", json={"birth_year": 1990}, headers=owner)
    )
    gone_id, _, gone_token = await signup(OWNER, "Poistuva")
    erased = await ok(
        lambda: client.post("/me/erase", json={"password": PASSWORD}, headers=bearer(gone_token))
    )
    strangers = []
    for municipality in (OWNER, OTHER):
        _, _, token = await signup(municipality, "Vieras")
        strangers.append(
            Caller(f"account@{municipality}", municipality, frozenset({"resident"}), bearer(token))
        )
    return Fixture(
        params={
            "municipality": OWNER,
            "slug": OWNER,
            "user_id": owner_id,
            "org_id": org["id"],
            "receipt": erased["receipt"],
            "role": "mentor",
            "purpose": "marketing",
        },
        params_for={
            ("GET", "/municipalities/{municipality}/users/{user_id}/erasure"): {"user_id": gone_id}
        },
        bodies={
            ("PUT", "/me/profile"): {"visibility": "private"},
            ("PUT", "/me/participant-profile"): {"birth_year": 1990},
            ("PUT", "/me/password"): {"current_password": PASSWORD, "new_password": PASSWORD + "!"},
            ("POST", "/me/erase"): {"password": PASSWORD + "!"},
            ("POST", "/organisations/{org_id}/members"): {"user_id": owner_id},
            ("PATCH", "/me/contact"): {"display_name": "Omistaja"},
            ("PUT", "/me/mentor-offer"): {"topics": [{"skill": "3D"}], "languages": ["fi"]},
            ("POST", "/auth/login"): {
                "municipality": OWNER,
                "email": owner_email,
                "password": PASSWORD,
            },
            ("POST", "/auth/signup"): {
                "municipality": OWNER,
                "email": f"uusi-{uuid.uuid4().hex[:8]}@example.org",
                "password": PASSWORD,
                "display_name": "Uusi",
                "accept_terms": True,
            },
            ("POST", "/municipalities"): {"slug": f"m{uuid.uuid4().hex[:6]}", "name": {"fi": "M"}},
        },
        markers={owner_id, owner_email},
        owner=[Caller("owner", OWNER, frozenset({"resident"}), owner, owner=True)],
        strangers=strangers,
    )


async def events_records(client: Client, issuer: TestIssuer, svc: Any) -> Fixture:
    staff = bearer(issuer.token(roles=["staff"], municipality=OWNER))
    owner_sub = f"owner-{uuid.uuid4().hex[:8]}"
    owner = bearer(issuer.token(sub=owner_sub, roles=["resident"], municipality=OWNER))
    venue = await ok(
        lambda: client.post("/venues", json={"kind": "library", "name": {"fi": "K"}}, headers=staff)
    )
    event_body = {
        "kind": "workshop",
        "title": {"fi": "Työpaja"},
        "starts_at": aware(7),
        "ends_at": aware(7, 2),
        "venue_id": venue["id"],
        "capacity": 50,
    }
    event = await ok(lambda: client.post("/events", json=event_body, headers=staff))
    await ok(lambda: client.post(f"/events/{event['id']}/publish", headers=staff))
    registration = await ok(
        lambda: client.post(
            f"/events/{event['id']}/registrations", json={"seats": 1}, headers=owner
        )
    )
    series_body = {"template": event_body, "recurrence": {"frequency": "weekly", "count": 2}}
    series = await ok(lambda: client.post("/series", json=series_body, headers=staff))
    return Fixture(
        params={
            "venue_id": venue["id"],
            "event_id": event["id"],
            "registration_id": registration["id"],
            "series_id": series["id"],
        },
        bodies={
            ("POST", "/venues"): {"kind": "library", "name": {"fi": "Uusi"}},
            ("PATCH", "/venues/{venue_id}"): {"description": {"fi": "muutettu"}},
            ("POST", "/events"): event_body,
            ("PATCH", "/events/{event_id}"): {"title": {"fi": "Muutettu"}},
            ("POST", "/series"): series_body,
            ("POST", "/events/{event_id}/registrations"): {"seats": 1},
            ("POST", "/events/{event_id}/attendance"): {
                "registration_id": registration["id"],
                "attended": True,
            },
            ("POST", "/events/{event_id}/visits"): {"visits": 3},
            ("POST", "/registrations/{registration_id}/feedback"): {"rating": 5},
        },
        query={
            ("GET", "/events"): {"municipality": OWNER},
            ("GET", "/venues"): {"municipality": OWNER},
        },
        markers={owner_sub, registration["id"]},
        owner=[Caller("owner", OWNER, frozenset({"resident"}), owner, owner=True)],
    )


async def bookings_records(client: Client, issuer: TestIssuer, svc: Any) -> Fixture:
    staff = bearer(issuer.token(roles=["staff"], municipality=OWNER))
    owner_sub = f"owner-{uuid.uuid4().hex[:8]}"
    owner = bearer(issuer.token(sub=owner_sub, roles=["resident"], municipality=OWNER))
    week = {str(d): [{"opens": "08:00", "closes": "20:00"}] for d in range(7)}
    location = await ok(
        lambda: client.post(
            "/locations",
            json={"name": {"fi": "Toimisto"}, "kind": "urban_office", "hours": {"weekly": week}},
            headers=staff,
        )
    )
    resource_body = {
        "location_id": location["id"],
        "kind": "meeting_room",
        "name": {"fi": "Huone"},
        "capacity": 6,
        "rules": {"slot_minutes": 30, "min_minutes": 30, "max_minutes": 240},
    }
    resource = await ok(lambda: client.post("/resources", json=resource_body, headers=staff))
    rid = resource["id"]
    booking = await ok(
        lambda: client.post(
            "/bookings",
            json={"resource_id": rid, "starts_at": local(3, "10:00"), "ends_at": local(3, "11:00")},
            headers=owner,
        )
    )
    series = await ok(
        lambda: client.post(
            "/series",
            json={
                "resource_id": rid,
                "starts_at": local(4, "12:00"),
                "ends_at": local(4, "13:00"),
                "count": 2,
            },
            headers=owner,
        )
    )
    block = await ok(
        lambda: client.post(
            f"/resources/{rid}/blocks",
            json={"starts_at": zoned(5, "08:00"), "ends_at": zoned(5, "09:00")},
            headers=staff,
        )
    )
    feed = await ok(lambda: client.post("/me/feed", headers=owner))
    token = feed["url"].rsplit("/", 1)[1].removesuffix(".ics")
    span = {"from": local(1, "00:00")[:10], "to": local(8, "00:00")[:10]}
    return Fixture(
        params={
            "location_id": location["id"],
            "resource_id": rid,
            "booking_id": booking["id"],
            "series_id": series["id"],
            "block_id": block["id"],
            "token": token,
        },
        bodies={
            ("POST", "/locations"): {"name": {"fi": "Uusi"}, "kind": "urban_office"},
            ("PUT", "/locations/{location_id}/hours"): {"hours": {"weekly": week}},
            ("POST", "/resources"): resource_body,
            ("PATCH", "/resources/{resource_id}"): {"capacity": 5},
            ("POST", "/resources/{resource_id}/blocks"): {
                "starts_at": zoned(6, "08:00"),
                "ends_at": zoned(6, "09:00"),
                "on_conflict": "flag",
            },
            ("POST", "/bookings"): {
                "resource_id": rid,
                "starts_at": local(2, "14:00"),
                "ends_at": local(2, "15:00"),
            },
            ("POST", "/series"): {
                "resource_id": rid,
                "starts_at": local(2, "16:00"),
                "ends_at": local(2, "17:00"),
                "count": 2,
            },
        },
        query={
            ("GET", "/locations/{location_id}/availability"): span,
            ("GET", "/resources/{resource_id}/availability"): span,
            ("GET", "/resources/{resource_id}/bookings"): span,
            ("GET", "/locations/{location_id}/day"): {"date": local(3, "00:00")[:10]},
            ("GET", "/resources"): {"location_id": location["id"]},
            ("GET", "/bookings/pending"): {"location_id": location["id"]},
        },
        markers={owner_sub, booking["id"], series["id"]},
        owner=[Caller("owner", OWNER, frozenset({"resident"}), owner, owner=True)],
    )


async def notifications_records(client: Client, issuer: TestIssuer, svc: Any) -> Fixture:
    owner_sub = f"owner-{uuid.uuid4().hex[:8]}"
    email = f"{owner_sub}@example.org"
    owner = bearer(issuer.token(sub=owner_sub, roles=["resident"], municipality=OWNER))
    contact = {"user_id": owner_sub, "display_name": "Omistaja", "email": email, "language": "fi"}
    await publish_as_producer(
        svc.settings, envelope(idc.CONTACT_CHANGED, contact, municipality=OWNER)
    )
    registered = {
        "user_id": owner_sub,
        "roles": ["resident"],
        "registered_at": datetime.now(UTC).isoformat(),
    }
    await publish_as_producer(
        svc.settings, envelope(idc.USER_REGISTERED, registered, municipality=OWNER)
    )

    async def noticed() -> bool:
        return await svc.store.db.notices.find_one({"user_id": owner_sub}) is not None

    await eventually(noticed, timeout=30)
    notice = await svc.store.db.notices.find_one({"user_id": owner_sub})
    return Fixture(
        params={"notice_id": str(notice["_id"])},
        bodies={("PUT", "/notifications/preferences"): {}},
        markers={owner_sub, email, str(notice["_id"])},
        owner=[Caller("owner", OWNER, frozenset({"resident"}), owner, owner=True)],
    )


async def analytics_records(client: Client, issuer: TestIssuer, svc: Any) -> Fixture:
    every = ("/analytics/reports/{name}", "/analytics/exports/{name}.{fmt}")
    every += ("/analytics/charts/{name}.{fmt}", "/analytics/dashboard")
    return Fixture(params={}, query={("GET", path): {"municipality": OWNER} for path in every})


SETUP: dict[str, Callable[[Client, TestIssuer, Any], Awaitable[Fixture]]] = {
    "identity": identity_records,
    "events": events_records,
    "bookings": bookings_records,
    "notifications": notifications_records,
    "analytics": analytics_records,
}


# The matrix -----------------------------------------------------------------------------


@dataclass
class Operation:
    method: str
    path: str
    roles: frozenset[str] | None
    spec: dict[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    @property
    def names_owner(self) -> bool:
        params = set(re.findall(r"\{([^}]+)\}", self.path)) - UNSCOPED_PARAMS
        return bool(params)


def operations(app: Any) -> list[Operation]:
    spec = app.openapi()
    gates = {}
    for route in api_routes(app.routes):
        for method in route.methods:
            gates[(method, route.path)] = declared_roles(route)
    found = []
    for path, item in spec["paths"].items():
        if path in OPEN:
            continue
        for method, op in item.items():
            key = (method.upper(), path)
            assert key in gates, f"no route found for {key}"
            found.append(Operation(key[0], path, gates[key], op))

    def order(op: Operation) -> tuple[int, str]:
        # Reads first, changes next, removals and erasures last: the owner's own calls
        # may end the records the remaining operations need.
        rank = {"GET": 0, "PUT": 1, "PATCH": 1, "POST": 1, "DELETE": 2}[op.method]
        if "erase" in op.path or "cancel" in op.path or "disable" in op.path:
            rank = 3
        return (rank, op.path)

    return sorted(found, key=order)


def url(op: Operation, fixture: Fixture, spec: dict[str, Any]) -> tuple[str, dict[str, str]]:
    values = {}
    query = dict(fixture.query.get(op.key, {}))
    if op.path in AUDIT_READS:
        query.setdefault("municipality", OWNER)  # the owner's log
    for param in op.spec.get("parameters", []):
        name = param["name"]
        if param["in"] == "path":
            given = {**fixture.params, **fixture.params_for.get(op.key, {})}
            values[name] = given.get(name) or str(sample(param["schema"], spec))
        elif param["in"] == "query" and param.get("required") and name not in query:
            query[name] = str(sample(param["schema"], spec))
    path = re.sub(r"\{([^}]+)\}", lambda m: values[m.group(1)], op.path)
    return path, query


def body(op: Operation, fixture: Fixture, spec: dict[str, Any]) -> Any:
    if op.key in fixture.bodies:
        return fixture.bodies[op.key]
    content = op.spec.get("requestBody", {}).get("content", {}).get("application/json")
    return sample(content["schema"], spec) if content else None


def verdicts(
    name: str,
    op: Operation,
    caller: Caller,
    response: httpx.Response,
    *,
    public: bool,
    names_owner: bool,
    markers: set[str],
) -> list[str]:
    status = response.status_code
    where = f"{caller.label}: {op.method} {op.path} -> {status}"
    wrong = []
    if status >= 500:
        wrong.append(f"{where} (server error) {response.text[:200]}")
    if status >= 400 and not response.headers.get("content-type", "").startswith(
        "application/problem+json"
    ):
        wrong.append(f"{where} without problem+json")
    if op.roles is not None and not caller.roles & op.roles and status not in (401, 403, 404):
        wrong.append(f"{where}, but the route admits only {sorted(op.roles)}")
    if status < 300:
        allowed = CROSS_ALLOWED.get((name, op.method, op.path), frozenset())
        cross_ok = public or allowed is None or bool(caller.roles & allowed)
        if caller.municipality == OTHER and names_owner and not cross_ok:
            wrong.append(f"{where}: another municipality reached the owner's record")
        # Roles declared in CROSS_ALLOWED act on the record, so they may see it.
        viewer = (
            caller.owner
            or (caller.municipality == OWNER and bool(caller.roles & {"staff", "admin"}))
            or (allowed is not None and bool(caller.roles & allowed))
        )
        if not viewer and (name, op.method, op.path) not in CAPABILITIES:
            shown = [m for m in sorted(markers) if m in response.text]
            if shown:
                wrong.append(f"{where}: shows the owner's {shown}")
    return wrong


def path_values(template: str, path: str) -> dict[str, str]:
    pattern = re.sub(r"\\\{([^}]+)\\\}", r"(?P<\1>[^/]+?)", re.escape(template))
    found = re.fullmatch(pattern, path)
    assert found, (template, path)
    return found.groupdict()


async def audit_verdicts(
    svc: Any,
    name: str,
    op: Operation,
    caller: Caller,
    response: httpx.Response,
    cid: str,
    path: str,
) -> list[str]:
    """The audit entries a call left (by its correlation id) against what it did."""
    entries = await svc.audit.collection.find({"correlation_id": cid}).to_list()
    where = f"{caller.label}: {op.method} {op.path} -> {response.status_code}"
    audited = AUDITED.get((name, op.method, op.path))
    if audited is None:
        return [f"{where}: an audit entry of an action not declared in AUDITED"] if entries else []
    action, param, when = audited
    applies = when is None or when(caller)
    status = response.status_code
    if status < 300 and not applies:
        return [f"{where}: audited although not privileged: {entries}"] if entries else []
    if status < 300 and len(entries) != 1:
        return [f"{where}: {len(entries)} audit entries, not one"]
    if len(entries) > 1:
        return [f"{where}: {len(entries)} audit entries"]
    if not entries:
        return []
    entry = entries[0]
    wrong = []
    outcome = "success" if status < 300 else "refused"
    if (entry["action"], entry["outcome"]) != (action, outcome):
        wrong.append(f"{where}: audited as {entry['action']} {entry['outcome']}")
    if caller.subject and entry["actor"]["id"] != caller.subject:
        wrong.append(f"{where}: audited actor {entry['actor']['id']}")
    if entry["actor"]["roles"] != sorted(caller.roles) and not caller.owner:
        wrong.append(f"{where}: audited roles {entry['actor']['roles']}")
    if param is not None and entry["object"]["id"] != path_values(op.path, path)[param]:
        wrong.append(f"{where}: audited object {entry['object']}")
    if status >= 300 and entry["status"] != status:
        wrong.append(f"{where}: audited status {entry['status']}")
    return wrong


async def audit_log_checks(
    svc: Any,
    name: str,
    client: httpx.AsyncClient,
    statuses: dict[tuple[str, str], int],
    replay: tuple[Operation, str, dict[str, str], Any, Caller] | None,
    ops: list[Operation],
    people: list[Caller],
) -> list[str]:
    """Who reads the log; nothing changes or deletes an entry; parallel actions."""
    wrong = []
    for label, expected in (
        ("admin@helsinki", 200),
        ("platform_admin@kouvola", 200),
        ("admin@kouvola", 403),
        ("staff@helsinki", 403),
        ("resident@helsinki", 403),
        ("analyst@helsinki", 403),
    ):
        for path in AUDIT_READS:
            got = statuses.get((path, label))
            if got != expected:
                wrong.append(f"{label}: GET {path}?municipality={OWNER} -> {got}, not {expected}")
    changing = [op for op in ops if op.path.startswith("/audit") and op.method != "GET"]
    wrong += [f"{op.method} {op.path}: a change of the audit log" for op in changing]
    kept = await svc.audit.collection.count_documents({})
    some = await svc.audit.collection.find_one({})
    assert some is not None, f"{name}: the matrix left no audit entry"
    readers = ("admin@helsinki", "platform_admin@kouvola")
    for headers in [c.headers for c in people if c.label in readers]:
        for method in ("PUT", "PATCH", "DELETE", "POST"):
            for path in ("/audit", f"/audit/{some['_id']}", "/audit/export"):
                answer = await client.request(method, path, headers=headers, json={})
                if answer.status_code not in (404, 405):
                    wrong.append(f"{method} {path} -> {answer.status_code}")
    if await svc.audit.collection.count_documents({"_id": some["_id"], **some}) != 1:
        wrong.append("an audit entry changed")
    if await svc.audit.collection.count_documents({}) < kept:
        wrong.append("audit entries went missing")
    if replay is None:
        return [*wrong, f"{name}: no audited action answered 2xx"]
    # The same privileged action sent eight times at once: one entry per request.
    op, path, query, payload, caller = replay
    cids = [f"par-{uuid.uuid4().hex}" for _ in range(8)]
    answers = await asyncio.gather(
        *(
            client.request(
                op.method,
                path,
                params=query,
                json=payload,
                headers={**caller.headers, "X-Correlation-ID": cid},
            )
            for cid in cids
        )
    )
    for cid, answer in zip(cids, answers, strict=True):
        if answer.status_code >= 500:
            wrong.append(f"parallel {op.method} {path} -> {answer.status_code}")
        wrong += await audit_verdicts(svc, name, op, caller, answer, cid, path)
    if not any(a.status_code < 300 for a in answers):
        wrong.append(f"parallel {op.method} {path}: none answered 2xx")
    # Every change's entry committed in its transaction (a no-op's too): none was written
    # after it, where a crash in between would have lost it (kit.audit, "Standalone").
    wrong += [
        f"{name}: {action}'s entry written after its transaction, {n}x"
        for action, n in sorted(svc.audit.outside.items())
    ]
    return wrong


@pytest.mark.parametrize("name", [n for n in registry.installed() if n != "gateway"])
async def test_every_role_of_both_municipalities_on_real_records(
    name: str,
    make_settings: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    make_vhost: Callable[..., str],
) -> None:
    # A vhost of its own: session-long services of other suites consume the same queue
    # names in the run's main vhost and would take this service's messages.
    amqp_url = make_vhost(f"roles-{name}", "function")
    assert name in SETUP, f"no records set up for {name}: add them to SETUP"
    extra = {"KOHTAAMO_ARGON2_TIME_COST": "1", "KOHTAAMO_ARGON2_MEMORY_KIB": "8192"}
    for key, value in service_env(make_settings(name, amqp_url=amqp_url), **extra).items():
        monkeypatch.setenv(key, value)
    svc = registry.load_factory(name)()
    issuer = TestIssuer()
    svc.verifier.trust(issuer.issuer, issuer.jwks)
    app = svc.create_app()
    svc.app = app
    ops = operations(app)
    spec = app.openapi()
    await svc.start()
    failures: list[str] = []
    answered: dict[tuple[str, str], list[int]] = {}
    # The audit log: each caller's answer to its reads, the first audited action that
    # answered 2xx (replayed in parallel at the end).
    audit_reads: dict[tuple[str, str], int] = {}
    replay: tuple[Operation, str, dict[str, str], Any, Caller] | None = None
    has_audit = any(op.path == "/audit" for op in ops)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            fixture = await SETUP[name](client, issuer, svc)
            owner_records = [
                value for key, value in fixture.params.items() if key not in UNSCOPED_PARAMS
            ]
            people = callers(issuer) + fixture.strangers + fixture.owner
            for op in ops:
                path, query = url(op, fixture, spec)
                payload = body(op, fixture, spec)
                anonymous = await client.request(op.method, path, params=query, json=payload)
                public = anonymous.status_code < 300
                # The owner's record or municipality named in the path, query or body.
                names_owner = (
                    op.names_owner
                    or query.get("municipality") == OWNER
                    or any(value in json.dumps(payload) for value in owner_records)
                )
                for caller in people:
                    cid = f"rm-{uuid.uuid4().hex}"
                    response = await client.request(
                        op.method,
                        path,
                        params=query,
                        json=payload,
                        headers={**caller.headers, "X-Correlation-ID": cid},
                    )
                    answered.setdefault(op.key, []).append(response.status_code)
                    if has_audit:
                        failures += await audit_verdicts(svc, name, op, caller, response, cid, path)
                        if op.path in AUDIT_READS:
                            audit_reads[(op.path, caller.label)] = response.status_code
                        if (
                            replay is None
                            and response.status_code < 300
                            and (name, op.method, op.path) in AUDITED
                            and op.path not in AUDIT_READS
                        ):
                            replay = (op, path, query, payload, caller)
                    failures += verdicts(
                        name,
                        op,
                        caller,
                        response,
                        public=public,
                        names_owner=names_owner,
                        markers=fixture.markers,
                    )
            if has_audit:
                failures += await audit_log_checks(
                    svc, name, client, audit_reads, replay, ops, people
                )
    finally:
        await svc.stop()
    silent = [key for key, codes in answered.items() if key[0] == "GET" and min(codes) >= 300]
    assert not silent, f"GETs that answered 2xx to nobody (records not real?): {silent}"
    assert not failures, f"{len(failures)} violations:\n" + "\n".join(failures)


def test_the_invariants_catch_what_they_should() -> None:
    """The judge itself: a leak to another municipality, a marker shown to a stranger, a
    role let through, a 5xx and a bare-text 4xx are each reported; proper answers are not."""
    op = Operation("GET", "/bookings/{booking_id}", frozenset({"resident", "staff"}), {})
    markers = {"bkg-1"}

    def judge(caller: Caller, status: int, body: Any, **flags: bool) -> list[str]:
        response = httpx.Response(status, json=body) if body is not None else httpx.Response(status)
        if status >= 400 and body is not None:
            response.headers["content-type"] = "application/problem+json"
        options = {"public": False, "names_owner": True, **flags}
        return verdicts("bookings", op, caller, response, markers=markers, **options)

    staff_other = Caller("staff@kouvola", OTHER, frozenset({"staff"}), {})
    staff_own = Caller("staff@helsinki", OWNER, frozenset({"staff"}), {})
    stranger = Caller("resident@helsinki", OWNER, frozenset({"resident"}), {})
    analyst = Caller("analyst@helsinki", OWNER, frozenset({"analyst"}), {})
    assert judge(staff_other, 200, {"id": "other"})
    assert judge(stranger, 200, {"id": "bkg-1"})
    assert judge(analyst, 200, {"id": "x"})
    assert judge(staff_own, 500, {"title": "boom"})
    assert judge(staff_own, 400, None)
    assert not judge(staff_own, 200, {"id": "bkg-1"})
    assert not judge(staff_other, 403, {"title": "Forbidden"})
    assert not judge(staff_other, 200, {"id": "x"}, public=True)
    assert not judge(stranger, 404, {"title": "Not found"})
