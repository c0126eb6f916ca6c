"""The aggregated OpenAPI document: the gateway's own operations plus every deployed
service's operations that the gateway routes, under /api/v1, browsable at /docs.

Upstream documents are fetched from each service's /openapi.json, cached, and kept when a
service is briefly unreachable. Schema names that clash between services with different
definitions get the service's name as prefix. Every operation also documents the answers
the gateway itself may give (limits, upstream failures) with examples."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from typing import Any

import httpx
import structlog
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse

from gateway.routes import API_PREFIX, RouteTable
from gateway.upstreams import Upstreams
from kit.openapi import CONTACT, PROBLEM_JSON, PROBLEM_SCHEMA

log = structlog.get_logger("gateway.openapi")
REF = "#/components/schemas/"


def _example(status: int, kind: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"https://kohtaamo.fi/problems/{kind}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": "/api/v1/events",
        "correlation_id": "6f1c2b1e-0d7a-4a51-9d4e-2f4f3b0c9a11",
        **extra,
    }


# Answers the gateway itself gives on any routed operation.
GATEWAY_RESPONSES: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {
    "400": (
        "Malformed path",
        {
            "dot-segment": _example(
                400, "about:blank", "Bad request", "Path segments '.' and '..' are not allowed."
            )
        },
    ),
    "401": (
        "Missing or invalid token",
        {
            "invalid-token": _example(
                401, "invalid-token", "Unauthorized", "Invalid token: token expired"
            )
        },
    ),
    "413": (
        "Body too large",
        {
            "too-large": _example(
                413,
                "body-too-large",
                "Request body too large",
                "The body may be at most 1048576 bytes.",
            )
        },
    ),
    "422": (
        "Invalid input; `errors` names each field",
        {
            "invalid": _example(
                422,
                "about:blank",
                "Invalid request",
                "Invalid field(s): title",
                errors=[{"field": "title", "message": "Field required", "type": "missing"}],
            )
        },
    ),
    "429": (
        "Rate limited; see Retry-After",
        {
            "rate-limited": _example(
                429,
                "rate-limited",
                "Too many requests",
                "Rate limit of 10 per 1 minute per client address on sign-up and login exceeded; "
                "retry in 42 s.",
                limit="10 per 1 minute",
                scope="client address",
            )
        },
    ),
    "502": (
        "The service could not be reached",
        {
            "unreachable": _example(
                502,
                "upstream-unreachable",
                "Upstream unreachable",
                "The events service could not be reached (ConnectError).",
                service="events",
            )
        },
    ),
    "503": (
        "The service is not deployed here, or paused by the circuit breaker",
        {
            "not-deployed": _example(
                503,
                "service-not-deployed",
                "Service not deployed",
                "The analytics service is not deployed at this site.",
                service="analytics",
            ),
            "circuit-open": _example(
                503,
                "circuit-open",
                "Service unavailable",
                "The events service is failing; requests to it are paused for a moment.",
                service="events",
            ),
        },
    ),
    "504": (
        "The service did not answer in time",
        {
            "timeout": _example(
                504,
                "upstream-timeout",
                "Upstream timeout",
                "The events service did not answer within 10 s.",
                service="events",
            )
        },
    ),
}
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(REF):
                name = value[len(REF) :]
                out[key] = REF + renames.get(name, name)
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, renames) for v in node]
    return node


def _problem_response(description: str, examples: dict[str, Any] | None = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": {"$ref": REF + "Problem"}}
    if examples:
        media["examples"] = {k: {"value": v} for k, v in examples.items()}
    return {"description": description, "content": {PROBLEM_JSON: media}}


def _with_gateway_answers(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    for code, (description, examples) in GATEWAY_RESPONSES.items():
        answer = responses.get(code)
        if answer is None or code == "422":
            # Services answer 422 as problem+json (the kit's handler), as the gateway does.
            responses[code] = _problem_response(description, examples)
            continue
        # The service documents this code too (its own 401, a store outage's 503): one
        # answer for both, with the gateway's examples.
        if description not in answer.get("description", ""):
            answer["description"] = f"{answer.get('description', '')}; or: {description}"
        media = answer.setdefault("content", {}).setdefault(
            PROBLEM_JSON, {"schema": {"$ref": REF + "Problem"}}
        )
        media.setdefault("examples", {}).update({k: {"value": v} for k, v in examples.items()})
    for code, answer in list(responses.items()):
        content = answer.get("content") or {}
        if (
            code.startswith(("4", "5"))
            and "application/json" in content
            and (PROBLEM_JSON not in content)
        ):
            # Kit services answer every error as problem+json.
            answer["content"] = {PROBLEM_JSON: content["application/json"]}


# What the gateway's own tags hold, for the aggregated document's tag list.
OWN_TAGS = {
    "operations": "Health, readiness, metrics and upstreams, for operators and orchestrators.",
    "my page": "The caller's own page, gathered from several services in one call.",
}
OWN_TAG_LIST = [{"name": name, "description": text} for name, text in OWN_TAGS.items()]


def own_document(app: FastAPI, *, title: str, version: str, description: str) -> dict[str, Any]:
    """The gateway's own operations as a document: what `merge` starts the aggregated one
    from (built here once, for the gateway and for the contract tests)."""
    return get_openapi(
        title=title,
        version=version,
        description=description,
        routes=app.routes,
        contact=CONTACT,
        tags=OWN_TAG_LIST,
        servers=[{"url": "/", "description": "This site's gateway"}],
    )


def merge(
    own: dict[str, Any], upstream_docs: dict[str, dict[str, Any]], table: RouteTable
) -> dict[str, Any]:
    doc = copy.deepcopy(own)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    security = doc["components"].setdefault("securitySchemes", {})
    tags = {t["name"]: t for t in doc.get("tags", [])}
    for item in doc.get("paths", {}).values():  # the gateway's own operations' tags
        for method, operation in item.items():
            for tag in operation.get("tags", []) if method in METHODS else []:
                tags.setdefault(tag, {"name": tag, "description": OWN_TAGS.get(tag, "")})
    operation_ids = {
        op.get("operationId")
        for item in doc.get("paths", {}).values()
        for m, op in item.items()
        if m in METHODS
    }
    for service, up in sorted(upstream_docs.items()):
        up_components = up.get("components", {})
        renames: dict[str, str] = {}
        for name, schema in up_components.get("schemas", {}).items():
            if name in schemas and schemas[name] != schema:
                renames[name] = f"{service.capitalize()}{name}"
        for name, schema in up_components.get("schemas", {}).items():
            schemas[renames.get(name, name)] = _rewrite_refs(schema, renames)
        for name, scheme in up_components.get("securitySchemes", {}).items():
            security.setdefault(name, scheme)
        for path, item in up.get("paths", {}).items():
            routed = table.gateway_path(service, path)
            if routed is None:
                continue  # health, metrics and anything the gateway does not route
            item = _rewrite_refs(item, renames)
            for method, operation in item.items():
                if method not in METHODS:
                    continue
                operation.setdefault("tags", [service])
                for tag in operation["tags"]:
                    tags.setdefault(tag, {"name": tag, "description": f"From {service}."})
                op_id = operation.get("operationId")
                if op_id in operation_ids:
                    operation["operationId"] = f"{service}_{op_id}"
                operation_ids.add(operation.get("operationId"))
                _with_gateway_answers(operation)
            doc.setdefault("paths", {})[API_PREFIX + routed] = item
    if tags:
        doc["tags"] = list(tags.values())
    # Relative: the site that serves this document (its paths start with /api/v1).
    doc["servers"] = [{"url": "/", "description": "This site's gateway"}]
    doc["info"].setdefault("contact", CONTACT)
    if not security:
        doc["components"].pop("securitySchemes")
    return doc


class Aggregator:
    def __init__(
        self, upstreams: Upstreams, table: RouteTable, own: Callable[[], dict[str, Any]]
    ) -> None:
        self.upstreams = upstreams
        self.table = table
        self.own = own
        self.ttl = upstreams.settings.openapi_cache_s
        self._docs: dict[str, dict[str, Any]] = {}
        self._fetched_at = 0.0
        self._missing: list[str] = []
        self._lock = asyncio.Lock()

    async def _fetch(self, service: str) -> None:
        try:
            upstream = self.upstreams.get(service)
            response = await upstream.client.get("/openapi.json", timeout=5.0)
            response.raise_for_status()
            self._docs[service] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("openapi.fetch_failed", upstream=service, error=type(exc).__name__)
            if service not in self._docs:
                self._missing.append(service)

    async def document(self) -> dict[str, Any]:
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            # Retry a missing service sooner than the cache lifetime, but not on every call.
            if not self._fetched_at or age > self.ttl or (self._missing and age > 5.0):
                self._missing = []
                deployed = [s for s in self.upstreams.urls if s in self.table.services()]
                await asyncio.gather(*(self._fetch(s) for s in deployed))
                self._fetched_at = time.monotonic()
        doc = merge(self.own(), self._docs, self.table)
        doc["info"]["x-kohtaamo-services"] = {
            "included": sorted(self._docs),
            "unavailable": sorted(self._missing),
            "not_deployed": sorted(self.table.services() - set(self.upstreams.urls)),
        }
        return doc


def docs_router(aggregator: Aggregator, title: str) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    async def openapi() -> JSONResponse:
        return JSONResponse(await aggregator.document())

    router.add_api_route("/openapi.json", openapi, methods=["GET"])
    router.add_api_route(f"{API_PREFIX}/openapi.json", openapi, methods=["GET"])

    @router.get("/docs")
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=f"{API_PREFIX}/openapi.json", title=title)

    return router


def drop_default_docs(app: FastAPI) -> None:
    """The FastAPI defaults would show only the gateway's own few operations."""
    defaults = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    app.router.routes = [r for r in app.router.routes if getattr(r, "path", None) not in defaults]
