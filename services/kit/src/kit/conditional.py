"""Conditional requests on single resources (RFC 9110 §13): a strong `ETag` made from the
`revision` counter the store keeps on the document (incremented in the same write that
changes it), and `If-Match` on updates checked in the update's own filter, so that of two
editors holding the same ETag exactly one wins and the other gets 412.

A document written before revisions existed has none: it reads as revision 0 (`"r0"`) and
its first change sets 1. `If-Match` is optional unless the service requires it
(`KOHTAAMO_REQUIRE_IF_MATCH`): a change without it is unconditional, as before (see
docs/architecture.md, "Conditional and idempotent requests")."""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response

from kit.problems import Problem
from kit.settings import KitSettings

REVISION = "revision"
HEADER = "If-Match"
# "r<revision>" or "r<revision>-<variant>" (a view that also depends on other documents or
# on who reads it); only the revision counts for If-Match.
_TAG = re.compile(r'^"r([0-9]{1,18})(?:-[0-9A-Za-z_.]{1,64})?"$')
_MAX_TAGS = 16


def revision_of(doc: dict[str, Any]) -> int:
    return int(doc.get(REVISION) or 0)


def etag(doc_or_revision: dict[str, Any] | int, variant: str | bytes | None = None) -> str:
    """The strong ETag of a document's current revision; `variant` (a name, or the bytes of
    a body that also shows other documents) tells apart views of the same revision."""
    revision = doc_or_revision if isinstance(doc_or_revision, int) else revision_of(doc_or_revision)
    if variant is None:
        return f'"r{revision}"'
    if isinstance(variant, bytes):
        variant = hashlib.blake2b(variant, digest_size=8).hexdigest()
    return f'"r{revision}-{variant}"'


def tag(response: Response, doc: dict[str, Any], variant: str | bytes | None = None) -> None:
    """Set the ETag of a single-resource answer; `Vary: Authorization` as the view may
    depend on who reads it."""
    response.headers["ETag"] = etag(doc, variant)
    response.headers.setdefault("Vary", "Authorization")


def bump(update: dict[str, Any]) -> dict[str, Any]:
    """An update document that also counts up the revision (in the same write)."""
    return {**update, "$inc": {**update.get("$inc", {}), REVISION: 1}}


class Precondition:
    """What `If-Match` asked for: nothing (None), any current version (`*`), or a set of
    revisions. `filter()` is merged into the update's filter."""

    def __init__(self, revisions: frozenset[int] | None) -> None:
        self.revisions = revisions

    @property
    def given(self) -> bool:
        return self.revisions is not None

    def filter(self) -> dict[str, Any]:
        if self.revisions is None:
            return {}
        if len(self.revisions) == 1 and 0 not in self.revisions:
            return {REVISION: next(iter(self.revisions))}  # the usual case: one equality
        wanted: list[int | None] = [*sorted(self.revisions)]
        if 0 in self.revisions:  # written before revisions: the field is missing
            wanted.append(None)
        return {REVISION: {"$in": wanted}}

    def holds(self, doc: dict[str, Any]) -> bool:
        return self.revisions is None or revision_of(doc) in self.revisions

    def check(self, doc: dict[str, Any]) -> None:
        """412 when `doc` (as just read) is not a version asked for. The write must still
        put `filter()` in its own filter: the document may change in between."""
        if not self.holds(doc):
            raise stale(doc)


def stale(doc: dict[str, Any] | None = None) -> Problem:
    current = {"ETag": etag(doc)} if doc is not None else None
    return Problem(
        412,
        "Precondition failed",
        "The resource was changed since the version named in If-Match: read it again "
        "(its ETag) and apply your change to that.",
        field=HEADER,
        headers=current,
    )


def parse_if_match(value: str | None, *, required: bool = False) -> Precondition:
    """`If-Match` as a precondition: absent (428 when `required`), `*`, or strong ETags of
    this API. Weak tags never match (RFC 9110 §13.1.1: strong comparison), nor do tags of
    another form: such a header gets 412, as no current version can match it."""
    if value is None or not value.strip():
        if required:
            raise Problem(
                428,
                "Precondition required",
                "Send If-Match with the ETag of the version you changed.",
                field=HEADER,
            )
        return Precondition(None)
    if len(value) > 1024:
        raise Problem(400, "Bad request", "If-Match is too long.", field=HEADER)
    if value.strip() == "*":
        return Precondition(None)
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if len(parts) > _MAX_TAGS:
        raise Problem(400, "Bad request", f"At most {_MAX_TAGS} ETags in If-Match.", field=HEADER)
    revisions = set()
    for part in parts:
        found = _TAG.match(part)
        if found:
            revisions.add(int(found.group(1)))
    if not revisions:
        raise stale()
    return Precondition(frozenset(revisions))


async def if_match(
    request: Request,
    value: Annotated[
        str | None,
        Header(
            alias=HEADER,
            max_length=1024,
            description="The ETag of the version being changed: a newer version gets 412.",
        ),
    ] = None,
) -> Precondition:
    """FastAPI dependency: the request's `If-Match`, required when the service's settings
    say so (`require_if_match`). Async although it awaits nothing: FastAPI runs a plain
    function dependency in its thread pool, a hand-off that costs more than the parse."""
    settings: KitSettings = request.app.state.service.settings  # every kit app keeps it
    return parse_if_match(value, required=settings.require_if_match)


class Edit:
    """A change of one record under `If-Match`: its `precondition`, and the answer's ETag
    set from the version written (`tagged`). A route takes it as `edit: Editing`."""

    def __init__(self, precondition: Precondition, response: Response) -> None:
        self.precondition = precondition
        self.response = response

    def tagged(self, doc: dict[str, Any], variant: str | bytes | None = None) -> dict[str, Any]:
        """`doc`, the version written, with the answer's ETag set from it."""
        tag(self.response, doc, variant)
        return doc


async def editing(
    response: Response, precondition: Annotated[Precondition, Depends(if_match)]
) -> Edit:
    return Edit(precondition, response)


# A route's parameter: the request's If-Match (documented as `if_match` is) and its answer.
Editing = Annotated[Edit, Depends(editing)]
