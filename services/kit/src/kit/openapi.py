"""The problem+json answers the kit gives, documented on every operation of a service's
OpenAPI document, so that clients (and schemathesis' status-code and content-type checks)
see every answer an operation really gives, not only its 2xx.

Which answers an operation documents follows from its route:

- 400 when it takes a body (one that is not JSON at all);
- 401 and 403 when a dependency resolves the caller (`kit.auth.Principal`): a token that is
  sent is checked even where anonymous calls are allowed, and roles and municipality are
  checked after it;
- 404 when the path names a resource, or the body another one (a `..._id` field);
- 409 on writes (a transaction that lost a write conflict, or a domain conflict);
- 412 and 428 when it takes `If-Match` (`kit.conditional`): a stale version, and a
  missing one where the service requires it;
- 422 on every operation (the kit's validation answer, naming each field; a query
  parameter the operation does not take is one, kit.query);
- 503 on everything but the health endpoints (the store is unreachable).

Answers an operation documents itself (`responses=` on the route) are kept; only a missing
or plain-JSON body of a 4xx/5xx becomes problem+json, because that is what the kit's
handlers send."""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from kit.principal import Principal

PROBLEM_JSON = "application/problem+json"
REF = "#/components/schemas/"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
WRITES = {"post", "put", "patch", "delete"}
# The kit's health endpoints answer for themselves (readyz's 503 is a JSON status report).
UNDOCUMENTED = {"/healthz", "/readyz", "/readyz/consumers", "/metrics"}
# FastAPI's default 422 schemas, replaced by Problem.
FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "correlation_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {"type": "object", "additionalProperties": True},
        },
    },
    "additionalProperties": True,
}

DESCRIPTIONS = {
    "400": "The body is not valid JSON",
    "401": "Missing, expired or invalid bearer token",
    "403": "The caller's roles or municipality do not allow this",
    "404": "Not found",
    "409": "Conflicts with the current state, or a concurrent change came first; see detail",
    "412": "If-Match names a version that is no longer current: read the resource again",
    "428": "If-Match is required by this service and was missing",
    "422": "Invalid input; `errors` names each field",
    "503": "The database is not reachable; see Retry-After",
}


# Who answers for the API, in every document's info (a client's "contact" link).
CONTACT = {"name": "Kohtaamo", "url": "https://kohtaamo.fi"}


def documented(app: FastAPI) -> None:
    """The app's document lists every tag its operations use (clients group methods by them)
    and a server (relative: where the document is served), as OpenAPI linters ask."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        doc = build()  # FastAPI's, kept by the app after the first call
        used = {
            tag
            for item in doc.get("paths", {}).values()
            for operation in item.values()
            if isinstance(operation, dict)
            for tag in operation.get("tags", [])
        }
        listed = {t["name"] for t in doc.get("tags", [])}
        doc["tags"] = [*doc.get("tags", []), *({"name": t} for t in sorted(used - listed))]
        doc.setdefault("servers", [{"url": "/", "description": "This service"}])
        return doc

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


def operation_ids(service: str) -> Callable[[APIRoute], str]:
    """FastAPI's `generate_unique_id_function` for a service: `<service>.<name>` for a route of
    the router tagged as the service (`events.list`), `<service>.<tag>.<name>` otherwise
    (`events.venues.create`), where the name is the route's (`name=` or the function's). Unique
    across the gateway's aggregated document, stable as long as names are, and readable in a
    generated client; the contract test refuses duplicates."""

    def operation_id(route: APIRoute) -> str:
        tag = _slug(str(route.tags[0])) if route.tags else service
        scope = [service] if tag == service else [service, tag]
        return ".".join([*scope, _slug(route.name)])

    return operation_id


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "-", text.strip()).strip("-").lower() or "op"


def returns(model: Any, description: str, status: int = 200) -> dict[str, Any]:
    """Route arguments documenting an operation's JSON answer by a pydantic model
    (`@router.get(path, **returns(EventOut, "The event"))`) without filtering the answer
    through it: views are built by the domain (`out()`), and FastAPI's response_model would
    silently drop any field the model does not name. The contract tests and schemathesis'
    response conformance hold the views to these models instead."""
    return {
        "status_code": status,
        "response_model": None,
        "responses": {status: {"model": model, "description": description}},
    }


def file_response(description: str, *media_types: str) -> dict[str, Any]:
    """Route arguments for an operation whose 200 is not plain JSON (a feed, an export, a chart):
    `@router.get(path, **file_response("iCalendar feed", "text/calendar"))`. JSON types are
    documented as objects, text ones as strings, anything else as binary."""
    content = {media: {"schema": _body_schema(media)} for media in media_types}
    return {
        "response_class": Response,
        "responses": {200: {"description": description, "content": content}},
    }


def _body_schema(media: str) -> dict[str, Any]:
    if media.endswith(("/json", "+json")):
        return {"type": "object"}
    if media.startswith("text/") or media.endswith("+xml"):
        return {"type": "string"}
    return {"type": "string", "format": "binary"}


def problem_content() -> dict[str, Any]:
    return {PROBLEM_JSON: {"schema": {"$ref": REF + "Problem"}}}


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _resolves_principal(call: Any) -> bool:
    try:
        returned = typing.get_type_hints(call).get("return")
    except Exception:  # unresolvable annotations: fall back to their text
        returned = inspect.signature(call).return_annotation
    if returned is Principal or Principal in typing.get_args(returned):
        return True
    return isinstance(returned, str) and "Principal" in returned


def expected_problems(route: Any, method: str, refers: bool = False) -> list[str]:
    """The kit's answers `route` can give besides its own (see the module's docstring);
    `refers`: its body names other resources by id."""
    dependants = list(_dependants(route.dependant))
    codes = []
    if any(d.body_params for d in dependants):
        codes.append("400")
    if any(d.call is not None and _resolves_principal(d.call) for d in dependants[1:]):
        codes += ["401", "403"]
    if route.dependant.path_params or refers:
        codes.append("404")
    if method in WRITES:
        codes.append("409")
    if any(getattr(d.call, "__qualname__", "") == "if_match" for d in dependants):
        codes += ["412", "428"]
    codes.append("422")  # every route refuses unknown query parameters (kit.query)
    codes.append("503")
    return codes


def _refers(operation: dict[str, Any], schemas: dict[str, Any]) -> bool:
    """Whether the JSON body has a top-level `..._id(s)` field: one that may name nothing."""
    media = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = media.get("schema", {})
    ref = schema.get("$ref", "")
    if ref.startswith(REF):
        schema = schemas.get(ref.removeprefix(REF), {})
    return any(name.endswith(("_id", "_ids")) for name in schema.get("properties", {}))


def _as_problem(answer: dict[str, Any]) -> None:
    content = answer.get("content") or {}
    if PROBLEM_JSON in content:
        return
    media = content.get("application/json")
    ref = (media or {}).get("schema", {}).get("$ref", "")
    if media and ref.removeprefix(REF) not in FASTAPI_VALIDATION:
        # A route's own error model: the kit's handlers still send it as problem+json.
        answer["content"] = {PROBLEM_JSON: media}
    else:
        answer["content"] = problem_content()


def _referenced(node: Any, name: str) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == REF + name or any(_referenced(v, name) for v in node.values())
    if isinstance(node, list):
        return any(_referenced(v, name) for v in node)
    return False


def add_problem_responses(doc: dict[str, Any], routes: list[BaseRoute]) -> dict[str, Any]:
    """Document the kit's problem+json answers on every operation of `doc` (in place)."""
    # Included routers stay nested in the app's routes: walk them as FastAPI itself does.
    by_operation = {
        (route.path_format, method.lower()): route
        for route in iter_route_contexts(routes)
        if isinstance(route.original_route, APIRoute) and route.include_in_schema
        for method in route.methods or ()
    }
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for path, item in doc.get("paths", {}).items():
        if path in UNDOCUMENTED:
            continue
        for method, operation in item.items():
            route = by_operation.get((path, method))
            if method not in METHODS or route is None:
                continue
            responses = operation.setdefault("responses", {})
            for code in expected_problems(route, method, _refers(operation, schemas)):
                responses.setdefault(code, {"description": DESCRIPTIONS[code]})
            for code, answer in responses.items():
                if code.startswith(("4", "5")):
                    _as_problem(answer)
    schemas["Problem"] = PROBLEM_SCHEMA
    for name in FASTAPI_VALIDATION:
        others = {k: v for k, v in schemas.items() if k not in FASTAPI_VALIDATION}
        if name in schemas and not _referenced([doc.get("paths"), others], name):
            schemas.pop(name)
    return doc


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` document the kit's problem answers (built once, then cached)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_problem_responses(build(), app.routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
