"""Which service answers a gateway path: the longest configured prefix (whole segments) of
the path after /api/v1 wins. A route is "service" (the service sees the same path without
/api/v1) or "service:/other/prefix" (the matched prefix is replaced, for paths two services
both use, such as their /series)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from kit.problems import Problem

API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class Route:
    service: str
    prefix: str  # the matched gateway prefix, e.g. "me/feed"
    upstream_path: str  # what the service sees, e.g. "/me/feed"


@dataclass(frozen=True)
class _Target:
    service: str
    rewrite: tuple[str, ...] | None  # upstream prefix segments, when not the same


def _segments(path: str) -> tuple[str, ...]:
    stripped = path.strip("/")
    return tuple(stripped.split("/")) if stripped else ()


def parse_target(value: str) -> tuple[str, str | None]:
    service, _, prefix = value.partition(":")
    return service.strip(), (prefix.strip() or None)


class RouteTable:
    def __init__(self, table: dict[str, str]) -> None:
        self._table: dict[tuple[str, ...], _Target] = {}
        for key, value in table.items():
            service, rewrite = parse_target(value)
            if key.strip("/"):
                target = _Target(service, _segments(rewrite) if rewrite else None)
                self._table[_segments(key)] = target
        self._depth = max((len(k) for k in self._table), default=0)

    def services(self) -> set[str]:
        return {t.service for t in self._table.values()}

    def _lookup(self, decoded: tuple[str, ...]) -> tuple[int, _Target] | None:
        for size in range(min(self._depth, len(decoded)), 0, -1):
            target = self._table.get(decoded[:size])
            if target:
                return size, target
        return None

    def match(self, raw_path: str) -> Route | None:
        """`raw_path` is the still percent-encoded path after /api/v1 ("/events/a%2Fb")."""
        raw = _segments(raw_path)
        # Dot segments could climb out of a partner's path prefix on the upstream side.
        if any(unquote(s) in {".", ".."} for s in raw):
            raise Problem(
                400, "Bad request", "Path segments '.' and '..' are not allowed.", field="path"
            )
        decoded = tuple(unquote(s) for s in raw)
        found = self._lookup(decoded)
        if found is None:
            return None
        size, target = found
        prefix = "/".join(decoded[:size])
        if target.rewrite is None:
            return Route(target.service, prefix, raw_path or "/")
        rest = raw[size:]
        upstream = "/" + "/".join((*target.rewrite, *rest))
        if raw_path.endswith("/") and rest:
            upstream += "/"
        return Route(target.service, prefix, upstream)

    def gateway_path(self, service: str, upstream_path: str) -> str | None:
        """Where the gateway serves a service's path (without /api/v1), or None if it
        does not route it (health, metrics, paths another service owns)."""
        candidates = [upstream_path]
        up = _segments(upstream_path)
        for key, target in self._table.items():
            if (
                target.service == service
                and target.rewrite
                and up[: len(target.rewrite)] == (target.rewrite)
            ):
                candidates.append("/" + "/".join((*key, *up[len(target.rewrite) :])))
        for candidate in candidates:
            try:
                route = self.match(candidate)
            except Problem:
                return None
            if route and route.service == service and route.upstream_path == upstream_path:
                return candidate
        return None
