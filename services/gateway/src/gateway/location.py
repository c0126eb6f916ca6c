"""Upstream `Location` headers rewritten to the gateway's own address: a service behind the
gateway knows only its internal address (`http://127.0.0.1:8002/events` for a redirect) and
must not hand it out. A Location on the upstream (absolute, or a path on it) becomes the
gateway path that reaches the same place, relative to the caller's own origin; one the
gateway does not route, or that points anywhere else, is dropped."""

from __future__ import annotations

from urllib.parse import urlsplit

from gateway.routes import API_PREFIX, RouteTable


def public_location(value: str, upstream_url: str, service: str, table: RouteTable) -> str | None:
    """The Location to send on, or None to drop it."""
    target = urlsplit(value)
    upstream = urlsplit(upstream_url)
    if target.scheme or target.netloc:
        same_origin = (
            target.scheme.lower() == upstream.scheme.lower()
            and target.netloc.lower() == upstream.netloc.lower()
        )
        if not same_origin:
            return None
    elif not target.path.startswith("/") or value.startswith("//"):
        return None  # a relative reference: resolved against the upstream's path
    base = upstream.path.rstrip("/")
    path = target.path
    if base:  # an upstream with a path prefix: only its own paths
        if path != base and not path.startswith(base + "/"):
            return None
        path = path[len(base) :] or "/"
    routed = table.gateway_path(service, path)
    if routed is None:
        return None
    public = API_PREFIX + "/" + routed.lstrip("/")
    if target.query:
        public += "?" + target.query
    if target.fragment:
        public += "#" + target.fragment
    return public


def rewrite_locations(
    raw_headers: list[tuple[bytes, bytes]], upstream_url: str, service: str, table: RouteTable
) -> list[tuple[bytes, bytes]]:
    out = []
    for key, value in raw_headers:
        if key.lower() in (b"location", b"content-location"):
            public = public_location(value.decode("latin-1"), upstream_url, service, table)
            if public is None:
                continue
            value = public.encode("latin-1")
        out.append((key, value))
    return out
