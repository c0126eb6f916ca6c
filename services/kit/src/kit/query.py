"""Unknown query parameters refused (issue 24), as unknown body fields are: a misspelt
filter (`?unread_only=true` for `unread`, `?limt=5`) silently did nothing, and a caller
could not tell. Every route of a kit app depends on `known_query`, which answers 422
naming the parameter, with the route's parameter it most likely meant."""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

# The names each route takes, found once per route (routes live as long as the app).
_names: dict[int, tuple[APIRoute, frozenset[str]]] = {}


def accepted(route: APIRoute) -> frozenset[str]:
    """The query parameters `route` takes (their aliases: `from`, not `from_`)."""
    known = _names.get(id(route))
    if known is None or known[0] is not route:
        known = (route, frozenset(_query_names(route.dependant)))
        _names[id(route)] = known
    return known[1]


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def known_query(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    names = accepted(route)
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in names]
    if unknown:
        raise RequestValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ("query", name),
                    "msg": "Unknown query parameter",
                    "input": request.query_params.get(name),
                    "ctx": {"accepted": sorted(names)},
                }
                for name in unknown[:20]  # bounded: a hostile URL may name thousands
            ]
        )
