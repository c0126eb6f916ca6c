"""Which service answers a gateway path: the longest configured prefix (whole segments)
of the path after /api/v1 wins. The upstream receives the same path without /api/v1."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from kit.problems import Problem

API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class Route:
    service: str
    prefix: str  # the matched prefix, e.g. "me/bookings"
    upstream_path: str  # what the service sees, e.g. "/me/bookings/42"


class RouteTable:
    def __init__(self, table: dict[str, str]) -> None:
        self._table = {tuple(k.split("/")): v for k, v in table.items() if k}
        self._depth = max((len(k) for k in self._table), default=0)

    def services(self) -> set[str]:
        return set(self._table.values())

    def service_for(self, path: str) -> str | None:
        """Owning service of an upstream path ("/events/1"), or None."""
        segments = tuple(unquote(s) for s in path.strip("/").split("/"))
        for size in range(min(self._depth, len(segments)), 0, -1):
            service = self._table.get(segments[:size])
            if service:
                return service
        return None

    def match(self, raw_path: str) -> Route | None:
        """`raw_path` is the still percent-encoded path after /api/v1 ("/events/a%2Fb")."""
        segments = raw_path.strip("/").split("/")
        # Dot segments could climb out of a partner's path prefix on the upstream side.
        if any(unquote(s) in {".", ".."} for s in segments):
            raise Problem(
                400, "Bad request", "Path segments '.' and '..' are not allowed.", field="path"
            )
        decoded = tuple(unquote(s) for s in segments)
        for size in range(min(self._depth, len(decoded)), 0, -1):
            service = self._table.get(decoded[:size])
            if service:
                return Route(service, "/".join(decoded[:size]), raw_path or "/")
        return None
