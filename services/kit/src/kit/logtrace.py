"""`kohtaamo trace <correlation id>`: a request's chain across services from their JSON log
lines, for operators without a tracing backend. Every line of the chain (the correlation
id is bound to each line of a request and of every message it caused, at every service
and site), in time order, and a summary: the services, events, trace ids (to look up in a
tracing backend when there is one), retries and dead letters. Lines that are not JSON
objects (another program's, a console-format line, a cut-off line) are passed over."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

MAX_LINE = 1_000_000  # a longer line is not one of ours
# What a line says besides its event, when present.
DETAIL = ("method", "path", "status", "ms", "queue", "reason", "error", "outcome", "retries")


def chain(lines: Iterable[str], correlation_id: str) -> list[dict[str, Any]]:
    """The log records of `correlation_id`, oldest first."""
    found = [r for r in _records(lines) if r.get("correlation_id") == correlation_id]
    found.sort(key=lambda r: str(r.get("timestamp", "")))
    return found


def _records(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        line = line.strip()
        if not line.startswith("{") or len(line) > MAX_LINE:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            yield record


def render(records: list[dict[str, Any]]) -> Iterator[str]:
    """One line per record, then the summary."""
    for r in records:
        parts = [str(r.get("timestamp", "?")), str(r.get("service", "?")), str(r.get("event"))]
        if r.get("event_type"):
            parts.append(f"{r['event_type']} {r.get('event_id', '')}".strip())
        parts += [f"{k}={r[k]}" for k in DETAIL if r.get(k) is not None]
        if r.get("trace_id"):
            parts.append(f"trace={r['trace_id']}")
        yield "  ".join(parts)
    summary = summarise(records)
    yield json.dumps(summary)


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    def distinct(key: str) -> list[str]:
        return sorted({str(r[key]) for r in records if r.get(key)})

    events = {
        (str(r["event_type"]), str(r.get("event_id", ""))) for r in records if r.get("event_type")
    }
    return {
        "lines": len(records),
        "first": records[0].get("timestamp") if records else None,
        "last": records[-1].get("timestamp") if records else None,
        "services": distinct("service"),
        "trace_ids": distinct("trace_id"),
        "events": [{"type": t, "id": i} for t, i in sorted(events)],
        "retries": sum(1 for r in records if r.get("event") == "message.retry"),
        "dead_lettered": sum(1 for r in records if r.get("event") == "message.dead_lettered"),
        "errors": sum(1 for r in records if r.get("level") == "error"),
    }
