"""RFC 9457 problem+json for every error, naming the offending field, and documented on
every operation of the app's OpenAPI document (`kit.openapi`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure, OperationFailure, ServerSelectionTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from kit.bodylimit import BodyTooLarge, refusal
from kit.openapi import PROBLEM_JSON, install_openapi
from kit.requests import did_you_mean, fields_at

WRITE_CONFLICT = 112  # MongoDB's error code for a transaction's write conflict
log = structlog.get_logger("kit.problems")
Error = TypeVar("Error", bound=Exception)


class Problem(Exception):
    """Raise from any handler: becomes a problem+json response."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        field: str | None = None,
        type_: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.field = field
        self.type_ = type_
        self.extra = extra or {}
        # Response headers, e.g. Retry-After on a 429.
        self.headers = headers


def problem_response(
    request: Request,
    *,
    status: int,
    title: str,
    detail: str | None = None,
    type_: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_ or "about:blank",
        "title": title,
        "status": status,
        "instance": request.url.path,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    cid = getattr(request.state, "correlation_id", None)
    if cid:
        body["correlation_id"] = cid
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "email") -> "email"; ("query", "limit") -> "limit"
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


def render(request: Request, exc: Problem) -> JSONResponse:
    errors = [{"field": exc.field, "message": exc.detail or exc.title}] if exc.field else None
    return problem_response(
        request,
        status=exc.status,
        title=exc.title,
        detail=exc.detail,
        type_=exc.type_,
        errors=errors,
        headers=exc.headers,
        **exc.extra,
    )


def install_error_mapping(
    app: FastAPI, kind: type[Error], to_problem: Callable[[Error], Problem]
) -> None:
    """Answer a domain's errors (not HTTP answers themselves) as the problems its API layer
    maps them to."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, kind):  # registered for `kind`: never so
            raise exc
        return render(request, to_problem(exc))

    app.add_exception_handler(kind, handle)


def _not_json(request: Request, error: Any) -> JSONResponse:
    # The body does not parse: a 400 (as every operation with a body documents, kit.openapi)
    # saying so and where; the position is not a field's name.
    loc = list(error.get("loc", ()))
    at = loc[-1] if loc and isinstance(loc[-1], int) else None
    reason = str((error.get("ctx") or {}).get("error") or "JSON decode error")
    where = f" at character {at}" if at is not None else ""
    message = f"The request body is not valid JSON: {reason}{where}."
    return problem_response(
        request,
        status=400,
        title="Invalid JSON",
        detail=message,
        type_="https://kohtaamo.fi/problems/invalid-json",
        errors=[{"field": "body", "message": message, "type": "json_invalid"}],
        position=at,
    )


def _error(request: Request, error: Any) -> dict[str, Any]:
    loc = list(error.get("loc", ()))
    entry: dict[str, Any] = {
        "field": _field(loc),
        "message": error.get("msg", "invalid"),
        "type": error.get("type"),
    }
    if error.get("type") == "extra_forbidden" and loc and loc[0] == "query":
        entry["message"] = "Unknown query parameter"
        accepted = (error.get("ctx") or {}).get("accepted") or []
        hint = did_you_mean(str(loc[-1]), list(accepted))
        if hint is not None:
            entry["message"] = f"Unknown query parameter; did you mean {hint!r}?"
            entry["did_you_mean"] = hint
    if error.get("type") == "extra_forbidden" and loc and loc[0] == "body":
        entry["message"] = "Unknown field"
        hint = _hint(request, loc[1:])
        if hint is not None:
            entry["message"] = f"Unknown field; did you mean {hint!r}?"
            entry["did_you_mean"] = hint
    return entry


def _hint(request: Request, loc: list[Any]) -> str | None:
    """The field of the route's body model an unknown field was most likely meant as."""
    body = getattr(request.scope.get("route"), "body_field", None)
    model = getattr(getattr(body, "field_info", None), "annotation", None)
    if model is None or not loc or not isinstance(loc[-1], str):
        return None
    return did_you_mean(loc[-1], fields_at(model, loc[:-1]))


def install_problem_handlers(app: FastAPI) -> None:
    install_openapi(app)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return render(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        found = list(exc.errors())
        syntax = next((e for e in found if e.get("type") == "json_invalid"), None)
        if syntax is not None:
            return _not_json(request, syntax)
        errors = [_error(request, e) for e in found]
        fields = ", ".join(sorted({e["field"] for e in errors}))
        return problem_response(
            request,
            status=422,
            title="Invalid request",
            detail=f"Invalid field(s): {fields}",
            errors=errors,
        )

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        body = refusal(exc.limit, request.url.path)
        return JSONResponse(body, status_code=413, media_type=PROBLEM_JSON)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            request,
            status=exc.status_code,
            title=str(exc.detail),
            headers=dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(ServerSelectionTimeoutError)
    @app.exception_handler(ConnectionFailure)
    async def _store_down(request: Request, exc: Exception) -> JSONResponse:
        log.error("store.unavailable", error=str(exc)[:500])
        return problem_response(
            request,
            status=503,
            title="Service unavailable",
            detail="The database is not reachable; try again shortly.",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(OperationFailure)
    async def _store_refused(request: Request, exc: OperationFailure) -> JSONResponse:
        # A transaction that lost a write conflict to a concurrent one: the client may
        # simply retry; anything else the store refuses is a server error.
        if exc.has_error_label("TransientTransactionError") or exc.code == WRITE_CONFLICT:
            log.warning("store.write_conflict", error=str(exc)[:300])
            return problem_response(
                request,
                status=409,
                title="Concurrent change",
                detail="Another change to the same data came first; retry the request.",
                type_="https://kohtaamo.fi/problems/concurrent-change",
                headers={"Retry-After": "1"},
            )
        log.error("store.operation_failed", error=str(exc)[:500])
        return problem_response(request, status=500, title="Internal error")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("http.unhandled_error")
        return problem_response(request, status=500, title="Internal error")
