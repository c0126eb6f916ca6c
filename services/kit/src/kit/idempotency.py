"""`Idempotency-Key` on creating POSTs: a retry (after a timeout, a lost answer) with the
same key from the same person gets the first answer again, status and body byte for byte,
instead of creating a second booking or registration.

- A key is scoped by municipality and user (the token's subject): two people's keys never
  meet. It is 1 to 128 visible ASCII characters (a UUID is the usual choice).
- The same key with another request (method, path or JSON body, compared canonically) is
  refused with 422: the key names one request only.
- While the first request runs, a duplicate gets 409 "in progress" with `Retry-After`,
  never a second execution. A first attempt that died (its process stopped) holds the
  key for `LEASE_S` at most; then a retry runs it again.
- Only a 2xx answer is kept: a refusal changed nothing, so a retry runs again (and may
  now succeed, or gets the refusal again). Replays carry `Idempotent-Replayed: true`.
- Keys are kept `idempotency_ttl_s` (a day by default) in the service's own store
  (collection `idempotency_keys`, a TTL index on `expires_at`).

The answer is recorded (by `IdempotencyRecorder`, an ASGI middleware) before its last
byte is sent, so a client that saw the answer and retries always gets the replay. The
record is a write of its own after the request's transaction: a process dying between
the two leaves the key pending, and `LEASE_S` later a retry runs again (the booking rules
still refuse a double booking of the same slot)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import Response
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kit.auth import Principal
from kit.problems import Problem

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
COLLECTION = "idempotency_keys"
MAX_KEY = 128
LEASE_S = 60.0  # longer than any request may run (the gateway's timeout is shorter)
_STATE = "idempotency"
_KEPT_HEADERS = (b"content-type", b"location", b"etag")
_KEY_PATTERN = r"^[\x21-\x7e]{1,128}$"


class Replay(Exception):
    """The stored first answer: the app's handler turns it into the response."""

    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__("replay")
        self.record = record


async def ensure_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    await db[COLLECTION].create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)


def fingerprint(method: str, path: str, body: bytes) -> str:
    """The request a key names: JSON bodies compared by meaning (key order and spacing
    do not matter), anything else byte for byte."""
    try:
        canonical = json.dumps(
            json.loads(body or b"null"), sort_keys=True, separators=(",", ":")
        ).encode()
    except ValueError:
        canonical = body
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def record_id(principal: Principal, key: str) -> str:
    scope = "\0".join((principal.municipality, principal.subject, key)).encode()
    return hashlib.sha256(scope).hexdigest()


def _in_progress() -> Problem:
    return Problem(
        409,
        "Request in progress",
        "A request with this Idempotency-Key is still running: retry shortly to get its answer.",
        field=HEADER,
        headers={"Retry-After": "1"},
    )


def _other_request() -> Problem:
    return Problem(
        422,
        "Idempotency-Key reused",
        "This Idempotency-Key was used for another request (method, path or body differ): "
        "use a new key for a new request.",
        field=HEADER,
    )


async def reserve(
    db: AsyncDatabase[dict[str, Any]],
    *,
    principal: Principal,
    key: str,
    request_fingerprint: str,
    ttl_s: int,
) -> str:
    """Take the key for this request (its record's id), raise `Replay` with the first
    answer, or refuse (409 in progress, 422 another request)."""
    keys = db[COLLECTION]
    rid = record_id(principal, key)
    for _ in range(3):  # a record expiring or released between our two steps
        now = datetime.now(UTC)
        try:
            await keys.insert_one(
                {
                    "_id": rid,
                    "fingerprint": request_fingerprint,
                    "state": "pending",
                    "lease_until": now + timedelta(seconds=LEASE_S),
                    "created_at": now,
                    "expires_at": now + timedelta(seconds=ttl_s),
                }
            )
            return rid
        except DuplicateKeyError:
            found = await keys.find_one({"_id": rid})
        if found is None:
            continue
        if found["fingerprint"] != request_fingerprint:
            raise _other_request()
        if found["state"] == "done":
            raise Replay(found)
        lease = found["lease_until"]
        if lease.tzinfo is None:
            lease = lease.replace(tzinfo=UTC)
        if lease > now:
            raise _in_progress()
        # The first attempt died holding it: take it over, exactly one of the retries.
        taken = await keys.update_one(
            {"_id": rid, "state": "pending", "lease_until": found["lease_until"]},
            {"$set": {"lease_until": now + timedelta(seconds=LEASE_S)}},
        )
        if taken.modified_count == 1:
            return rid
        raise _in_progress()
    raise _in_progress()


def idempotent(who: Callable[..., Awaitable[Principal]]) -> Any:
    """A route dependency (`dependencies=[idempotent(auth_dependency)]`) honouring
    `Idempotency-Key`; `who` is the route's own authentication dependency (run once)."""

    async def dependency(
        request: Request,
        key: Annotated[
            str | None,
            Header(
                alias=HEADER,
                pattern=_KEY_PATTERN,
                description="Any unique string (a UUID): a retry with the same key and body "
                "gets the first answer; the same key with another body gets 422.",
            ),
        ] = None,
        # a default, not Annotated: the annotation is a string read in the module's
        # namespace, where the closure's `who` is not
        principal: Principal = Depends(who),
    ) -> None:
        if key is None:
            return
        service = request.app.state.service
        rid = await reserve(
            service.store.db,
            principal=principal,
            key=key,
            request_fingerprint=fingerprint(request.method, request.url.path, await request.body()),
            ttl_s=service.settings.idempotency_ttl_s,
        )
        request.state.idempotency = rid

    return Depends(dependency)


def replay_response(record: dict[str, Any]) -> Response:
    headers = {k: v for k, v in record.get("headers", {}).items() if k != "content-type"}
    headers[REPLAYED] = "true"
    return Response(
        content=bytes(record["body"]),
        status_code=int(record["status"]),
        headers=headers,
        media_type=record.get("headers", {}).get("content-type"),
    )


class IdempotencyRecorder:
    """Keeps a reserved key's answer: a 2xx is stored (before its last byte leaves), any
    other answer or a failure releases the key so a retry runs again."""

    def __init__(self, app: ASGIApp, *, db: Callable[[], AsyncDatabase[dict[str, Any]]]) -> None:
        self.app = app
        self.db = db

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        status = 0
        headers: dict[str, str] = {}
        chunks: list[bytes] = []
        settled = False

        async def settle(ok: bool) -> None:
            nonlocal settled
            rid = scope.get("state", {}).get(_STATE)
            if rid is None or settled:
                return
            settled = True
            keys = self.db()[COLLECTION]
            if ok:
                await keys.update_one(
                    {"_id": rid, "state": "pending"},
                    {
                        "$set": {
                            "state": "done",
                            "status": status,
                            "headers": headers,
                            "body": b"".join(chunks),
                        }
                    },
                )
            else:
                await keys.delete_one({"_id": rid, "state": "pending"})

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", []):
                    if name.lower() in _KEPT_HEADERS:
                        headers[name.lower().decode("latin-1")] = value.decode("latin-1")
            elif message["type"] == "http.response.body" and scope.get("state", {}).get(_STATE):
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await settle(200 <= status < 300)
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            await settle(False)
