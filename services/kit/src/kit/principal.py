"""Who a request acts as: a verified token's subject, municipality and roles (kit.auth
makes them). Apart from kit.auth so that the OpenAPI document can recognise a dependency
resolving one without importing the token checks (which import the problems, which
install the document)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Roles known across the platform. `analyst` is the network role: it may read aggregates
# across municipalities. Every other role acts within its own municipality.
ROLES = ("resident", "mentor", "partner", "staff", "admin", "analyst")


@dataclass(frozen=True)
class Principal:
    subject: str
    municipality: str
    roles: frozenset[str]
    issuer: str
    claims: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))
