"""The import graph of every package (grimp, from the source, no infrastructure): no
import cycles (function-local imports count: they only hide a cycle; imports for type
checking alone do not), services never import each other, and the rule modules of
bookings and events reach neither the store's driver nor the web framework nor HTTP
problems (they are tested on their own), and the domain modules of identity, events,
bookings and notifications raise their own errors, not HTTP problems (their API layer maps
them: no import of kit.problems outside `<service>.api` and the composition root)."""

from __future__ import annotations

from functools import cache

import grimp

SERVICES = ("identity", "events", "bookings", "notifications", "analytics", "gateway")
PACKAGES = ("contracts", "kit", *SERVICES)
RULES = (
    "bookings.rules",
    "bookings.availability",
    "bookings.opening_hours",
    "bookings.errors",
    "events.waitlist",
    "events.errors",
    "events.status",
    "events.clock",
)
ADAPTERS = ("pymongo", "fastapi", "starlette", "kit.problems", "kit.app", "kit.mongo")


@cache
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(
        *PACKAGES,
        cache_dir=None,
        exclude_type_checking_imports=True,
        include_external_packages=True,
    )


def cycles(g: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    modules = sorted(m for m in g.modules if m.split(".")[0] in PACKAGES)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(sorted(g.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child.split(".")[0] not in PACKAGES:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(g.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def described(g: grimp.ImportGraph, component: list[str]) -> str:
    lines = []
    for importer in component:
        for imported in sorted(g.find_modules_directly_imported_by(importer)):
            if imported in component:
                for detail in g.get_import_details(importer=importer, imported=imported):
                    where = f"{importer}:{detail['line_number']}"
                    lines.append(f"  {where}: {detail['line_contents']}")
    return "\n".join(lines)


def test_no_import_cycles() -> None:
    g = graph()
    found = cycles(g)
    assert not found, "import cycles:\n" + "\n".join(described(g, c) for c in found)


def test_the_cycle_finder_finds_a_cycle() -> None:
    g = grimp.ImportGraph()
    for module in ("kit.a", "kit.b", "kit.c", "kit.d"):
        g.add_module(module)
    g.add_import(importer="kit.a", imported="kit.b")
    g.add_import(importer="kit.b", imported="kit.c")
    g.add_import(importer="kit.c", imported="kit.a")
    g.add_import(importer="kit.c", imported="kit.d")
    assert cycles(g) == [["kit.a", "kit.b", "kit.c"]]


def test_services_never_import_each_other() -> None:
    g = graph()
    crossing = [
        f"{service} -> {other}: {chain}"
        for service in SERVICES
        for other in SERVICES
        if other != service
        and (chain := g.find_shortest_chain(importer=service, imported=other, as_packages=True))
    ]
    assert not crossing


def test_rule_modules_reach_no_adapter() -> None:
    g = graph()
    reached = [
        " -> ".join(chain)
        for rules in RULES
        for adapter in ADAPTERS
        if (chain := g.find_shortest_chain(importer=rules, imported=adapter, as_packages=True))
    ]
    assert not reached


def test_domain_modules_raise_no_http_problems() -> None:
    g = graph()
    domains = ("identity", "events", "bookings", "notifications")
    raising = [
        module
        for module in sorted(g.modules)
        if module.split(".")[0] in domains
        and not module.startswith(tuple(f"{d}.api" for d in domains))
        and module not in {f"{d}.main" for d in domains}
        and g.direct_import_exists(importer=module, imported="kit.problems")
    ]
    assert not raising
