"""Forwarding one request to its upstream: the caller's Authorization and the correlation
id go on, hop-by-hop headers do not; every failure becomes a problem within a deadline."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog
from fastapi import Request, Response
from yarl import URL

from gateway.breaker import REJECTED, UPSTREAM_LATENCY, OpenedState
from gateway.errors import EdgeProblem, circuit_open, timed_out, unreachable
from gateway.upstreams import Upstream, Upstreams
from kit import tracing
from kit.http import HEADER as CORRELATION_HEADER

log = structlog.get_logger("gateway.proxy")

# RFC 9110 §7.6.1 connection-specific headers, plus what the client computes itself.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
# Set by the gateway, never taken from the caller.
OWN = frozenset(
    {
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-forwarded-prefix",
        "x-real-ip",
        "forwarded",
        CORRELATION_HEADER.lower(),
        "accept-encoding",
        # The edge starts its own traces: a caller never chooses the trace id or its
        # sampling (with tracing on, the gateway's call span is sent on instead).
        "traceparent",
        "tracestate",
        "baggage",
    }
)
_NOT_FORWARDED = HOP_BY_HOP | OWN
# Bodies pass through as they came (not decompressed), so content-encoding stays. Date
# and Server are the gateway's own server's to set: passed on, every answer carried two.
RESPONSE_DROP = HOP_BY_HOP | {CORRELATION_HEADER.lower(), "date", "server"}
_RESPONSE_DROP_RAW = frozenset(h.encode("latin-1") for h in RESPONSE_DROP)
# Upstream answers that mean "this service is in trouble" and count against its breaker.
FAILING = frozenset({502, 503, 504})


@dataclass
class Answer:
    """An upstream's answer, read whole (bodies are bounded JSON, ICS or CSV)."""

    status_code: int
    raw_headers: list[tuple[bytes, bytes]]
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class _UpstreamFailing(Exception):
    def __init__(self, answer: Answer) -> None:
        self.answer = answer


async def exchange(
    upstreams: Upstreams,
    upstream: Upstream,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes = b"",
) -> Answer:
    """`_exchange`, timed per upstream and outcome (`kohtaamo_gateway_upstream_duration_
    seconds`), in a client span whose context the upstream receives when tracing is on."""
    started = time.perf_counter()
    outcome = "error"
    span = None
    if tracing.enabled:
        span = tracing.tracer().start_span(
            method,
            kind=tracing.SpanKind.CLIENT,
            attributes={
                "http.request.method": method,
                "url.path": path.split("?", 1)[0],
                "kohtaamo.upstream": upstream.name,
            },
        )
        parent, state = tracing.format_context(span.get_span_context())
        if parent:
            headers = [*headers, ("traceparent", parent)]
        if state:
            headers = [*headers, ("tracestate", state)]
    try:
        answer = await _exchange(upstreams, upstream, method, path, headers, body)
        outcome = f"{answer.status_code // 100}xx"
        if span is not None:
            span.set_attribute("http.response.status_code", answer.status_code)
        return answer
    except EdgeProblem as exc:
        outcome = (exc.type_ or "error").rsplit("/", 1)[-1]
        if span is not None:
            span.set_status(tracing.error_status(exc))
        raise
    finally:
        UPSTREAM_LATENCY.labels(upstream.name, outcome).observe(time.perf_counter() - started)
        if span is not None:
            span.end()


async def _exchange(
    upstreams: Upstreams,
    upstream: Upstream,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes = b"",
) -> Answer:
    """Send through the upstream's breaker with a hard deadline; transport failures become
    502/504 problems, an open breaker 503. Upstream answers (any status) are returned.
    `path` is still percent-encoded, with its query."""
    settings = upstreams.settings
    deadline = settings.upstream_timeout_s
    url = URL(upstream.url.rstrip("/") + path, encoded=True)
    try:
        breaker = await upstreams.breakers.get(upstream.name)
        async with breaker:
            try:
                async with asyncio.timeout(settings.upstream_connect_timeout_s):
                    await upstream.slots.acquire()
            except TimeoutError:
                raise _Busy() from None
            try:
                async with asyncio.timeout(deadline):
                    async with upstream.session.request(
                        method, url, headers=headers, data=body or None, allow_redirects=False
                    ) as response:
                        answer = Answer(
                            response.status,
                            [
                                (k, v)
                                for k, v in response.raw_headers
                                if k.lower() not in _RESPONSE_DROP_RAW
                            ],
                            await response.read(),
                        )
            except TimeoutError as exc:
                raise timed_out(upstream.name, deadline) from exc
            except aiohttp.ClientError as exc:
                raise unreachable(upstream.name, type(exc).__name__) from exc
            finally:
                upstream.slots.release()
            if answer.status_code in FAILING:
                raise _UpstreamFailing(answer)
            return answer
    except _UpstreamFailing as failing:
        return failing.answer
    except OpenedState as exc:
        REJECTED.labels(upstream.name).inc()
        raise circuit_open(upstream.name, upstreams.breakers.retry_after(exc)) from None
    except _Busy as exc:
        raise EdgeProblem(
            503,
            "Gateway busy",
            f"All connections to the {upstream.name} service are in use; retry shortly.",
            kind="gateway-busy",
            headers={"Retry-After": "1"},
        ) from exc


class _Busy(Exception):
    """No free connection to the upstream within the connect timeout."""


def client_address(request: Request) -> str:
    """The caller's address: the peer, or the client a trusted proxy names in
    X-Forwarded-For (already resolved by uvicorn's proxy-header handling, kit.app)."""
    return request.client.host if request.client else "unknown"


def outgoing_headers(request: Request, client: str) -> list[tuple[str, str]]:
    drop = _NOT_FORWARDED
    connection = request.headers.get("connection")
    if connection:
        # RFC 9110 §7.6.1: the fields the Connection header names are for this hop only.
        drop = drop | {token.strip().lower() for token in connection.split(",")}
    headers = [(k, v) for k, v in request.headers.items() if k not in drop]
    headers += [
        (CORRELATION_HEADER, request.state.correlation_id),
        ("x-forwarded-for", client),
        ("x-forwarded-proto", request.scope["scheme"]),
        ("x-forwarded-host", request.headers.get("host", "")),
        ("x-forwarded-prefix", "/api/v1"),
    ]
    return headers


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def _too_large(limit: int) -> EdgeProblem:
    return EdgeProblem(
        413,
        "Request body too large",
        f"The body may be at most {limit} bytes.",
        kind="body-too-large",
        field="body",
    )


async def forward(
    request: Request, upstreams: Upstreams, service: str, upstream_path: str, client: str
) -> Response:
    upstream = upstreams.get(service)
    body = await read_body(request, upstreams.settings.max_body_bytes)
    query = request.scope.get("query_string", b"").decode("latin-1")
    path = upstream_path + (f"?{query}" if query else "")
    answer = await exchange(
        upstreams, upstream, request.method, path, outgoing_headers(request, client), body
    )
    proxied = Response(content=answer.content, status_code=answer.status_code)
    proxied.raw_headers = [
        *answer.raw_headers,
        (b"content-length", str(len(answer.content)).encode()),
    ]
    return proxied
