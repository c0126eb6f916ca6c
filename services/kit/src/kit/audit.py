"""The audit log of privileged actions, one way for every service (docs/identity.md, "Audit
log"): who did what, when, to which object, in which municipality, with the request's
correlation id and the outcome.

    async with svc.audit.action(principal, "event.publish", "event", event_id) as entry:
        entry.municipality = doc["municipality"]  # the object's, when it differs
        entry.note(reason=reason)                 # a few bounded details
        await event.publish(svc, event=doc)       # its unit of work also writes the entry

- **With the action**: while the block runs, the first unit of work (`kit.uow`) that
  commits a change (it stages events, as every change of a service does) inserts the entry
  in its own transaction, so the action and its entry commit together or not at all. An
  action whose transaction may commit without events (a no-op, a change no other service
  hears of) says so: `entry.any_transaction = True`.
- **Standalone**: an action with no transaction of its own (an export or another read, a
  rebuild that drops collections) is declared `standalone=True`: its entry is written in a
  small unit of work of its own when the block ends, before the answer goes out, so an
  export is never served without its entry. A change whose success no transaction took
  is still written so, but logged as `audit.outside_transaction` and counted in
  `AuditLog.outside` (the role matrix requires none).
- **Refusals too**: a `Problem` raised in the block (the action's transaction aborted, so
  nothing of it stays) is written as outcome `refused` with its status; another error as
  `failed`.
- **Append-only**: this module only inserts; there is no update or delete, in code or API.
  Entries go when `KOHTAAMO_AUDIT_RETENTION_DAYS` have passed, by a TTL index on `at`
  (MongoDB's TTL monitor; the embedded store honours TTL indexes with its own sweeper).
- **Read** by the municipality's admins (a platform admin: any municipality) through
  `router(svc)`: `GET /audit` (a page, `kit.pages`) and `GET /audit/export` (CSV or XLSX,
  `kit.sheets`, formula-safe), filtered by actor, object, action, outcome and time.

Hot paths pay one context variable read per unit of work (no entry pending: nothing)."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

import structlog
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import OperationFailure, PyMongoError

from kit.auth import Principal, ensure_municipality
from kit.context import current_correlation_id
from kit.openapi import file_response, returns
from kit.pages import Page, Paging, page
from kit.problems import Problem
from kit.sheets import XLSX, Sheet, to_csv, to_xlsx

if TYPE_CHECKING:
    from kit.app import Service
    from kit.mongo import Store
    from kit.settings import KitSettings
    from kit.uow import Transactions

log = structlog.get_logger("kit.audit")
COLLECTION = "audit_log"
TTL_INDEX = "audit_retention"
# Who reads a municipality's log: its admins; a platform admin runs the site and reads any.
READERS = ("admin", "platform_admin")
DETAILS_MAX = 12  # details an entry keeps
DETAIL_KEY_MAX = 40
DETAIL_TEXT_MAX = 200
_ID_MAX = 200

Scalar = str | int | float | bool | None
Outcome = Literal["success", "refused", "failed"]


def bounded(value: Any) -> Scalar:
    """A detail as a small scalar: text cut short, lists joined, anything else as text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        value = ", ".join(str(v) for v in value)
    return str(value)[:DETAIL_TEXT_MAX]


class Pending:
    """An action under way and its entry. `claimed` while a unit of work holds it in its
    transaction; `written` once that committed (or the entry was written alone)."""

    def __init__(
        self,
        principal: Principal,
        action: str,
        kind: str,
        object_id: str,
        municipality: str,
        details: dict[str, Any],
    ) -> None:
        self.id = str(uuid.uuid4())
        self.at = datetime.now(UTC)
        self.principal = principal
        self.action = action
        self.kind = kind
        self.object_id = str(object_id)[:_ID_MAX]
        self.municipality = municipality
        self.details: dict[str, Scalar] = {}
        self.correlation_id = current_correlation_id()
        self.claimed = False
        self.written = False
        # Any unit of work that commits is the action (one that stages no events).
        self.any_transaction = False
        # No transaction is the action (see AuditLog.action): written alone, not an error.
        self.standalone = False
        self.note(**details)

    def note(self, **details: Any) -> None:
        """Add details (at most DETAILS_MAX in all; the rest are dropped)."""
        for key, value in details.items():
            if key in self.details or len(self.details) < DETAILS_MAX:
                self.details[key[:DETAIL_KEY_MAX]] = bounded(value)

    def document(self, outcome: Outcome = "success", status: int | None = None) -> dict[str, Any]:
        return {
            "_id": self.id,
            "at": self.at,
            "actor": {
                "id": self.principal.subject,
                "roles": sorted(self.principal.roles),
                "municipality": self.principal.municipality,
            },
            "action": self.action,
            "object": {"kind": self.kind, "id": self.object_id},
            "municipality": self.municipality,
            "correlation_id": self.correlation_id,
            "outcome": outcome,
            "status": status,
            "details": self.details,
        }


_pending: ContextVar[Pending | None] = ContextVar("audit_pending", default=None)


def pending() -> Pending | None:
    """The entry of the action under way in this task, if any (for kit.uow)."""
    return _pending.get()


async def claim(session: AsyncClientSession, collection: Any, *, changed: bool) -> Pending | None:
    """Insert the pending entry in this transaction unless another unit of work holds it.
    Returns it (the caller marks it written after the commit, or releases it).

    Only a transaction that `changed` something (it staged events: every change of a
    service tells the others) takes the entry, unless the action says that any will
    (`entry.any_transaction`): a transaction that found nothing to do, after which the
    action is refused, must not commit the entry as a success."""
    entry = _pending.get()
    if entry is None or entry.claimed or entry.written:
        return None
    if not changed and not entry.any_transaction:
        return None
    entry.claimed = True  # one event loop: no other unit of work takes it meanwhile
    try:
        await collection.insert_one(entry.document(), session=session)
    except BaseException:
        entry.claimed = False
        raise
    return entry


def settle(entry: Pending | None, *, committed: bool) -> None:
    if entry is None:
        return
    entry.claimed = False
    entry.written = entry.written or committed


class AuditLog:
    """A service's audit log (`svc.audit`)."""

    def __init__(
        self,
        store: Store,
        settings: KitSettings,
        error_maps: list[tuple[type[Any], Callable[[Any], Problem]]] | None = None,
        transactions: Transactions | None = None,
    ) -> None:
        self.collection = store.db[COLLECTION]
        # The small units of work entries written alone go in (the service's `svc.uow`);
        # without them (a bare log, as in a test) a plain insert.
        self.transactions = transactions
        # Actions (by name) whose success no transaction took although they were not
        # standalone: each a change whose entry a crash could have lost.
        self.outside: Counter[str] = Counter()
        self.retention_s = int(settings.audit_retention_days * 86_400)
        # The service's domain errors and the problems they answer (WebService.map_errors).
        self.error_maps = error_maps if error_maps is not None else []

    def status_of(self, exc: Exception) -> int:
        """The HTTP status an error of the action answers (the kit's mapping)."""
        if isinstance(exc, Problem):
            return exc.status
        for kind, to_problem in self.error_maps:
            if isinstance(exc, kind):
                return to_problem(exc).status
        if isinstance(exc, PyMongoError) and exc.has_error_label("TransientTransactionError"):
            return 409  # a write conflict (kit.problems): nothing changed, retry
        return 500

    async def ensure_indexes(self) -> None:
        c = self.collection
        try:
            await c.create_index(
                [("at", ASCENDING)], name=TTL_INDEX, expireAfterSeconds=self.retention_s
            )
        except OperationFailure as exc:
            if exc.code not in (85, 86):  # IndexOptionsConflict/IndexKeySpecsConflict
                raise
            # The retention setting changed: the index keeps its key, takes the new time.
            await c.database.command(
                "collMod",
                COLLECTION,
                index={"name": TTL_INDEX, "expireAfterSeconds": self.retention_s},
            )
        await c.create_index([("municipality", ASCENDING), ("at", DESCENDING)])
        await c.create_index(
            [("municipality", ASCENDING), ("actor.id", ASCENDING), ("at", DESCENDING)]
        )
        await c.create_index(
            [
                ("municipality", ASCENDING),
                ("object.kind", ASCENDING),
                ("object.id", ASCENDING),
                ("at", DESCENDING),
            ]
        )

    @asynccontextmanager
    async def action(
        self,
        principal: Principal,
        action: str,
        kind: str,
        object_id: str,
        *,
        municipality: str | None = None,
        standalone: bool = False,
        **details: Any,
    ) -> AsyncIterator[Pending]:
        """The block is the action; its entry is written with it (see the module).
        `standalone`: the action has no transaction (an export): its entry is written in
        a unit of work of its own when the block ends, before the answer."""
        entry = Pending(
            principal, action, kind, object_id, municipality or principal.municipality, details
        )
        entry.standalone = standalone
        token = _pending.set(entry)
        try:
            yield entry
        except Exception as exc:
            _pending.reset(token)
            status = self.status_of(exc)
            try:
                await self._alone(entry, "refused" if status < 500 else "failed", status)
            except (PyMongoError, Problem) as lost:  # must not hide why the action failed
                log.error("audit.unrecorded", action=entry.action, error=str(lost)[:200])
            raise
        _pending.reset(token)
        if not entry.written:
            if not entry.standalone:  # a change committed without its entry: a defect
                self.outside[entry.action] += 1
                log.error("audit.outside_transaction", action=entry.action)
            await self._alone(entry, "success", None)

    async def _alone(self, entry: Pending, outcome: Outcome, status: int | None) -> None:
        if entry.written:  # the action committed, then something after it failed
            return
        document = entry.document(outcome, status)
        if self.transactions is None:
            await self.collection.insert_one(document)
        else:
            # Its own small unit of work, rerun on a transient error like any other.
            async def insert(session: AsyncClientSession) -> None:
                await self.collection.insert_one(document, session=session)

            await self.transactions.run_session(insert)
        entry.written = True
        log.info("audit.recorded", action=entry.action, outcome=outcome, status=status)

    async def find(
        self, query: dict[str, Any], *, limit: int, offset: int = 0
    ) -> list[dict[str, Any]]:
        found = self.collection.find(query, sort=[("at", DESCENDING), ("_id", DESCENDING)])
        return await found.skip(offset).limit(limit).to_list()


# The API ------------------------------------------------------------------------------


class AuditActor(BaseModel):
    id: str = Field(description="The user id of who acted", examples=["usr-1f2e"])
    roles: list[str] = Field(description="Their roles at the time", examples=[["admin"]])
    municipality: str = Field(description="Their municipality", examples=["helsinki"])


class AuditObject(BaseModel):
    kind: str = Field(description="What kind of thing was acted on", examples=["user"])
    id: str = Field(description="Its id", examples=["usr-9a8b"])


class AuditEntry(BaseModel):
    """One privileged action."""

    id: str
    at: datetime = Field(description="When (UTC)")
    actor: AuditActor
    action: str = Field(description="What was done", examples=["role.grant"])
    object: AuditObject
    municipality: str = Field(description="The municipality of the object")
    correlation_id: str = Field(description="The request's X-Correlation-ID")
    outcome: Outcome = Field(description="success; refused (4xx, nothing changed); failed")
    status: int | None = Field(default=None, description="The refusal's HTTP status")
    details: dict[str, Scalar] = Field(description="A few details of the action")


def entry_out(doc: dict[str, Any]) -> AuditEntry:
    at = doc["at"]
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return AuditEntry(
        id=doc["_id"],
        at=at,
        actor=AuditActor(**doc["actor"]),
        action=doc["action"],
        object=AuditObject(**doc["object"]),
        municipality=doc["municipality"],
        correlation_id=doc["correlation_id"],
        outcome=doc["outcome"],
        status=doc.get("status"),
        details=doc.get("details") or {},
    )


class ExportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


class AuditFilters:
    """The query parameters of the reads."""

    def __init__(
        self,
        # A slug, as identity makes them: it also names the export's file (a header).
        municipality: str | None = Query(
            default=None,
            pattern=r"^[a-z][a-z0-9-]{1,39}$",
            description="Whose log (default: the caller's)",
        ),
        actor: str | None = Query(
            default=None, min_length=1, max_length=200, description="The actor's user id"
        ),
        action: str | None = Query(
            default=None, min_length=1, max_length=200, description="e.g. `role.grant`"
        ),
        object_kind: str | None = Query(
            default=None, min_length=1, max_length=200, description="e.g. `user`"
        ),
        object_id: str | None = Query(
            default=None, min_length=1, max_length=200, description="The object's id"
        ),
        outcome: Outcome | None = Query(default=None),
        since: datetime | None = Query(
            default=None, alias="from", description="From this time on (inclusive)"
        ),
        until: datetime | None = Query(
            default=None, alias="to", description="Before this time (exclusive)"
        ),
    ) -> None:
        self.municipality = municipality
        self.values = {
            "actor.id": actor,
            "action": action,
            "object.kind": object_kind,
            "object.id": object_id,
            "outcome": outcome,
        }
        for name, moment in (("from", since), ("to", until)):
            if moment is not None and moment.tzinfo is None:
                raise Problem(422, "Invalid field", "A time needs its offset.", field=name)
        if since and until and since >= until:
            raise Problem(422, "Invalid field", "`from` must be before `to`.", field="from")
        self.since = since
        self.until = until

    def query(self, principal: Principal) -> dict[str, Any]:
        municipality = self.municipality or principal.municipality
        if not principal.has("platform_admin"):
            ensure_municipality(principal, municipality)
        found: dict[str, Any] = {"municipality": municipality}
        found.update({k: v for k, v in self.values.items() if v is not None})
        if self.since or self.until:
            span: dict[str, datetime] = {}
            if self.since:
                span["$gte"] = self.since
            if self.until:
                span["$lt"] = self.until
            found["at"] = span
        return found


HEADER = (
    "at",
    "actor_id",
    "actor_roles",
    "actor_municipality",
    "action",
    "object_kind",
    "object_id",
    "municipality",
    "correlation_id",
    "outcome",
    "status",
    "details",
)


def row(entry: AuditEntry) -> list[Any]:
    details = "; ".join(f"{k}={v}" for k, v in sorted(entry.details.items()))
    return [
        entry.at.isoformat(),
        entry.actor.id,
        ", ".join(entry.actor.roles),
        entry.actor.municipality,
        entry.action,
        entry.object.kind,
        entry.object.id,
        entry.municipality,
        entry.correlation_id,
        entry.outcome,
        entry.status,
        details,
    ]


def router(svc: Service[Any]) -> APIRouter:
    """`GET /audit` and `GET /audit/export` of the service's log (its admins read it)."""
    api = APIRouter(prefix="/audit", tags=["audit"])
    reader = Depends(svc.auth.require(*READERS))
    paging = Depends(Paging.of(50, 500))
    most = svc.settings.audit_export_max_rows

    @api.get(
        "",
        name="list",
        summary="The audit log of privileged actions, newest first (admins)",
        **returns(Page[AuditEntry], "A page of entries (docs/api.md, Collections)"),
    )
    async def listing(
        request: Request,
        filters: AuditFilters = Depends(),
        pages: Paging = paging,
        principal: Principal = reader,
    ) -> dict[str, Any]:
        """The audit log of this service's privileged actions (who, what, on which object, with what
        outcome), newest first, a page at a time; admins of the municipality only."""
        query = filters.query(principal)
        docs = await svc.audit.find(query, limit=pages.limit + 1, offset=pages.offset)
        items = [entry_out(d).model_dump(mode="json") for d in docs[: pages.limit]]
        more = len(docs) > pages.limit
        return page(request, svc.settings, items, limit=pages.limit, offset=pages.offset, more=more)

    @api.get(
        "/export",
        name="export",
        summary="The audit log as CSV or XLSX, newest first (admins)",
        description=f"The entries the filters select, at most {most}; the export is "
        "itself an entry (`audit.export`).",
        **file_response("The entries as `format`", "text/csv", XLSX),
    )
    async def export(
        filters: AuditFilters = Depends(),
        format: ExportFormat = Query(default=ExportFormat.csv),
        principal: Principal = reader,
    ) -> Response:
        query = filters.query(principal)
        async with svc.audit.action(
            principal,
            "audit.export",
            "audit_log",
            svc.name,
            municipality=query["municipality"],
            standalone=True,
        ) as entry:
            docs = await svc.audit.find(query, limit=most)
            entry.note(format=format.value, rows=len(docs))
        rows = [row(entry_out(d)) for d in docs]
        # A header is latin-1: the file's name keeps only what is safe in one (a caller's
        # own municipality is not checked against the slug pattern above).
        safe = re.sub(r"[^a-z0-9-]", "", str(query["municipality"]).lower())[:40]
        name = f"audit-{svc.name}-{safe or 'log'}"
        if format is ExportFormat.csv:
            body: str | bytes = to_csv(HEADER, rows, bom=True)
            media = "text/csv; charset=utf-8"
        else:
            body = to_xlsx([Sheet("audit", [list(HEADER), *rows], bold_rows=1)])
            media = XLSX
        disposition = f'attachment; filename="{name}.{format.value}"'
        return Response(body, media_type=media, headers={"Content-Disposition": disposition})

    return api
