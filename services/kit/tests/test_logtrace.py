"""`kohtaamo trace <correlation id>` (kit.logtrace) on log lines as the services write
them, mixed with lines of other chains and lines that are not ours; no infrastructure."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kit.cli import app

CID = "req-42"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def line(**fields: object) -> str:
    return json.dumps(fields)


GATEWAY = [
    line(
        timestamp="2026-12-06T10:00:00.100Z",
        service="gateway",
        event="http.request",
        correlation_id=CID,
        method="POST",
        path="/api/v1/events/{event_id}/registrations",
        status=201,
        ms=40.1,
        trace_id=TRACE,
    ),
    line(
        timestamp="2026-12-06T10:00:00.050Z", service="gateway", event="x", correlation_id="other"
    ),
    "not json at all",
    "[1, 2, 3]",
    '{"cut off',
    "{" + "x" * 2_000_000,
]
EVENTS = [
    line(
        timestamp="2026-12-06T10:00:00.090Z",
        service="events",
        event="http.request",
        correlation_id=CID,
        status=201,
        trace_id=TRACE,
    ),
]
NOTIFICATIONS = [
    line(
        timestamp="2026-12-06T10:00:00.400Z",
        service="notifications",
        level="warning",
        event="message.retry",
        correlation_id=CID,
        queue="kohtaamo.notifications.events",
        event_type="kohtaamo.events.registration.confirmed.v1",
        event_id="e-1",
        trace_id=TRACE,
    ),
    line(
        timestamp="2026-12-06T10:00:01.400Z",
        service="notifications",
        level="error",
        event="message.dead_lettered",
        correlation_id=CID,
        queue="kohtaamo.notifications.events",
        reason="retries_exhausted",
        event_type="kohtaamo.events.registration.confirmed.v1",
        event_id="e-1",
    ),
]


def test_trace_follows_a_correlation_id_through_files_in_time_order(tmp_path: Path) -> None:
    files = []
    for name, lines in (("gw", GATEWAY), ("ev", EVENTS), ("no", NOTIFICATIONS)):
        path = tmp_path / f"{name}.log"
        path.write_text("\n".join(lines) + "\n")
        files.append(str(path))
    result = CliRunner().invoke(app, ["trace", CID, *files])
    assert result.exit_code == 0, result.output
    *shown, last = result.output.strip().splitlines()
    assert [s.split("  ")[1] for s in shown] == [
        "events",
        "gateway",
        "notifications",
        "notifications",
    ]
    assert "status=201" in shown[1] and f"trace={TRACE}" in shown[1]
    assert "reason=retries_exhausted" in shown[3]
    summary = json.loads(last)
    assert summary["services"] == ["events", "gateway", "notifications"]
    assert summary["trace_ids"] == [TRACE]
    assert summary["events"] == [{"type": "kohtaamo.events.registration.confirmed.v1", "id": "e-1"}]
    assert (summary["retries"], summary["dead_lettered"], summary["errors"]) == (1, 1, 1)


def test_trace_reads_standard_input_and_says_when_nothing_matches() -> None:
    found = CliRunner().invoke(app, ["trace", CID], input="\n".join(GATEWAY))
    assert found.exit_code == 0 and json.loads(found.output.splitlines()[-1])["lines"] == 1
    missing = CliRunner().invoke(app, ["trace", "nobody"], input="\n".join(GATEWAY))
    assert missing.exit_code == 1
    assert json.loads(missing.output.splitlines()[-1])["lines"] == 0
