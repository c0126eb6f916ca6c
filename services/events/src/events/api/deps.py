"""Authentication dependencies with identity's latest role changes applied."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from events import access
from events.errors import forbidden
from events.settings import EventsSettings
from kit.app import Service
from kit.auth import Principal


class Who:
    def __init__(self, svc: Service[EventsSettings]) -> None:
        self.svc = svc

    async def principal(self, request: Request) -> Principal:
        return await access.effective(self.svc, await self.svc.auth.principal(request))

    async def optional(self, request: Request) -> Principal | None:
        found = await self.svc.auth.optional(request)
        return None if found is None else await access.effective(self.svc, found)

    def require(self, *roles: str) -> Callable[[Request], Awaitable[Principal]]:
        async def dependency(request: Request) -> Principal:
            principal = await self.principal(request)
            if not principal.has(*roles):
                raise forbidden(f"Requires one of the roles: {', '.join(roles)}.")
            return principal

        return dependency
