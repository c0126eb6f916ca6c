"""Who may see which figures: a municipality's own staff, admins and analysts see that
municipality; the network role (`analyst`) also sees other municipalities and the whole
network. Checked in every endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kit.auth import Principal, ensure_municipality
from kit.problems import Problem

NETWORK = "network"
READERS = ("staff", "admin", "analyst")


@dataclass(frozen=True)
class Scope:
    name: str  # a municipality or "network"

    @property
    def match(self) -> dict[str, Any]:
        return {} if self.name == NETWORK else {"municipality": self.name}


def resolve(principal: Principal, municipality: str | None) -> Scope:
    wanted = municipality or principal.municipality
    if wanted == NETWORK:
        if not principal.has("analyst"):
            raise Problem(
                403,
                "Forbidden",
                "Network-wide figures need the analyst role.",
                type_="https://kohtaamo.fi/problems/forbidden",
            )
        return Scope(NETWORK)
    ensure_municipality(principal, wanted, network_read=True)
    return Scope(wanted)
