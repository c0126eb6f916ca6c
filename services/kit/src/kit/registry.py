"""Installed services, found through the `kohtaamo.services` entry-point group, so the
kit and the CLI never import a service by name (services stay independent packages)."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kit.web import WebService

ORDER = ("identity", "events", "bookings", "notifications", "analytics", "gateway")


def installed() -> list[str]:
    names = {ep.name for ep in entry_points(group="kohtaamo.services")}
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def load_factory(target: str) -> Callable[..., WebService]:
    """`identity` (an installed service) or `package.module:factory`."""
    if ":" in target:
        module, attr = target.split(":", 1)
        # What a module or entry point names is what its package declares it to be.
        factory: Callable[..., WebService] = getattr(importlib.import_module(module), attr)
        return factory
    for ep in entry_points(group="kohtaamo.services"):
        if ep.name == target:
            factory = ep.load()
            return factory
    raise LookupError(f"no service named {target!r}; installed: {', '.join(installed()) or 'none'}")


def seeder(name: str) -> Callable[[Any], Awaitable[dict[str, Any]]] | None:
    """A service's demo-data seeder (`kohtaamo.seed` group), called with its started Service."""
    for ep in entry_points(group="kohtaamo.seed"):
        if ep.name == name:
            seed: Callable[[Any], Awaitable[dict[str, Any]]] = ep.load()
            return seed
    return None
