"""HTTP caching of reads: a strong ETag (a hash of the exact body), `If-None-Match` answered
with 304, and a short `Cache-Control`: public for anonymous reads (browsers and a CDN may
keep them for `cache_max_age_s`), private and revalidated for signed-in ones (their answer
may show drafts)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from kit.openapi import file_response

JSON = "application/json"


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: `*` or any listed tag, compared weakly (a `W/` prefix ignored)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(t.strip().removeprefix("W/") == etag for t in if_none_match.split(","))


def _default(value: Any) -> Any:
    if isinstance(value, date):  # a stored time out() does not convert, as FastAPI writes it
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """JSON as FastAPI writes it (UTF-8, compact)."""
    return json.dumps(
        value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_default
    ).encode()


def respond(
    request: Request,
    body: bytes,
    *,
    public: bool,
    max_age: int,
    media_type: str = JSON,
    headers: Mapping[str, str] | None = None,
    etag: str | None = None,
) -> Response:
    """`etag`: a single resource's own (kit.conditional, from its revision); else a hash
    of the body."""
    etag = etag or etag_of(body)
    fields = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={max_age}" if public else "private, no-cache",
        "Vary": "Authorization",
        **(headers or {}),
    }
    if matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=fields)
    return Response(body, media_type=media_type, headers=fields)


def cached(
    description: str, media_type: str = JSON, model: type[BaseModel] | None = None
) -> dict[str, Any]:
    """Route arguments documenting a cached read: its 200 (JSON, `model` when given) and
    the 304."""
    route = file_response(description, media_type)
    if model is not None:
        route["responses"][200] = {"description": description, "model": model}
        if media_type != JSON:  # FastAPI documents a model under its class's media type
            route["response_class"] = type("Cached", (JSONResponse,), {"media_type": media_type})
    route["responses"][304] = {"description": "Not modified: If-None-Match matched the ETag"}
    return route
