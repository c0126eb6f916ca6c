"""Forwarding one request to its upstream: the caller's Authorization and the correlation
id go on, hop-by-hop headers do not; every failure becomes a problem within a deadline."""

from __future__ import annotations

import asyncio

import httpx
import structlog
from fastapi import Request, Response

from gateway.breaker import OpenedState
from gateway.errors import EdgeProblem, circuit_open, timed_out, unreachable
from gateway.upstreams import Upstream, Upstreams
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
    }
)
# httpx has already decoded the body, and Starlette sets the length.
RESPONSE_DROP = HOP_BY_HOP | {"content-encoding", "content-length", CORRELATION_HEADER.lower()}
# Upstream answers that mean "this service is in trouble" and count against its breaker.
FAILING = frozenset({502, 503, 504})


class _UpstreamFailing(Exception):
    def __init__(self, response: httpx.Response) -> None:
        self.response = response


async def exchange(
    upstreams: Upstreams, upstream: Upstream, request: httpx.Request
) -> httpx.Response:
    """Send through the upstream's breaker with a hard deadline; transport failures become
    502/504 problems, an open breaker 503. Upstream answers (any status) are returned."""
    deadline = upstreams.settings.upstream_timeout_s
    try:
        breaker = await upstreams.breakers.get(upstream.name)
        async with breaker:
            try:
                async with asyncio.timeout(deadline):
                    response = await upstream.client.send(request)
            except (TimeoutError, httpx.TimeoutException) as exc:
                if isinstance(exc, httpx.PoolTimeout):
                    raise
                raise timed_out(upstream.name, deadline) from exc
            except httpx.TransportError as exc:
                raise unreachable(upstream.name, type(exc).__name__) from exc
            if response.status_code in FAILING:
                raise _UpstreamFailing(response)
            return response
    except _UpstreamFailing as failing:
        return failing.response
    except OpenedState as exc:
        raise circuit_open(upstream.name, upstreams.breakers.retry_after(exc)) from None
    except httpx.PoolTimeout as exc:
        raise EdgeProblem(
            503,
            "Gateway busy",
            f"All connections to the {upstream.name} service are in use; retry shortly.",
            kind="gateway-busy",
            headers={"Retry-After": "1"},
        ) from exc


def client_address(request: Request, trusted_proxies: list[str]) -> str:
    """The caller's address; X-Forwarded-For counts only when sent by a trusted proxy."""
    peer = request.client.host if request.client else "unknown"
    if peer in trusted_proxies:
        forwarded = request.headers.get("x-forwarded-for", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        # Walk back from the nearest hop past our own proxies.
        for hop in reversed(hops):
            if hop not in trusted_proxies:
                return hop
    return peer


def outgoing_headers(request: Request, client: str) -> list[tuple[str, str]]:
    headers = [(k, v) for k, v in request.headers.items() if k not in HOP_BY_HOP and k not in OWN]
    headers += [
        (CORRELATION_HEADER, request.state.correlation_id),
        ("x-forwarded-for", client),
        ("x-forwarded-proto", request.url.scheme),
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
    url = upstream_path + (f"?{query}" if query else "")
    outgoing = upstream.client.build_request(
        request.method, url, headers=outgoing_headers(request, client), content=body
    )
    response = await exchange(upstreams, upstream, outgoing)
    headers = [(k, v) for k, v in response.headers.multi_items() if k not in RESPONSE_DROP]
    proxied = Response(content=response.content, status_code=response.status_code)
    proxied.raw_headers = [
        *[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        (b"content-length", str(len(response.content)).encode()),
    ]
    return proxied
