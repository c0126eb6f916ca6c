"""What every identity handler needs: the kit service and identity's own parts, built by
the factory (main.py) and kept with the service (`svc.part(Identity)`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from identity.keys import KeyRing
from identity.oidc import Providers
from identity.passwords import Passwords
from identity.ratelimit import LoginThrottle
from identity.session import Sessions
from identity.settings import IdentitySettings
from kit.app import Service


@dataclass
class Identity:
    svc: Service[IdentitySettings]
    settings: IdentitySettings
    keys: KeyRing
    sessions: Sessions
    passwords: Passwords
    throttle: LoginThrottle
    oidc: Providers

    @classmethod
    def build(cls, svc: Service[IdentitySettings]) -> Identity:
        settings = svc.settings
        keys = KeyRing(svc.store.db, settings)
        return cls(
            svc=svc,
            settings=settings,
            keys=keys,
            sessions=Sessions(svc.store.db, keys, settings),
            passwords=Passwords(settings),
            throttle=LoginThrottle(svc.store.db, settings),
            oidc=Providers(settings),
        )

    @property
    def db(self) -> AsyncDatabase[dict[str, Any]]:
        return self.svc.store.db

    async def emit(
        self,
        session: AsyncClientSession,
        type_: str,
        data: BaseModel,
        *,
        municipality: str,
        subject: str,
    ) -> None:
        """Stage an event in the outbox inside the caller's transaction."""
        await self.svc.emit(
            session, self.svc.event(type_, data, municipality=municipality, subject=subject)
        )


def identity_of(svc: Service) -> Identity:
    """Identity's parts of a running service (for seeding and tests); a LookupError for
    another service."""
    return svc.part(Identity)
