"""ESF+ indicators from a known stream fed through the real broker: once-per-period
counting with the data of the first entry, consent, suppression, municipality isolation
and the network view. Every expected figure below is counted by hand from
analytics_stream.esf_stream()."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from analytics_stream import esf_stream
from conftest import Harness, start_harness, table
from openpyxl import load_workbook

from analytics.esf import esf_report
from analytics.participants import participants
from analytics.periods import parse_period
from analytics.scope import Scope
from kit.testing import TestIssuer


@pytest.fixture(scope="module")
async def fed(analytics_settings: Callable[..., Any], issuer: TestIssuer) -> AsyncIterator[Harness]:
    h, client = await start_harness(analytics_settings(), issuer)
    try:
        await h.feed(esf_stream())
        yield h
    finally:
        await client.aclose()
        await h.svc.stop()


async def test_q1_helsinki_counts_each_participant_once_with_first_entry_data(fed: Harness) -> None:
    report = await fed.report("esf", "2026-Q1")
    assert report["scope"] == "helsinki" and report["suppression_threshold"] == 5
    # u1..u12: u1 attended twice and checked in once (counted once); u13 has no profile,
    # u14 withdrew consent, u15's attendance was corrected to "not attended".
    assert table(report, "summary")["participants"] == 12
    # non_binary 1 is suppressed, and man (5, the smallest other) with it.
    assert table(report, "gender") == {"woman": 6, "man": None, "non_binary": None, "not_given": 0}
    assert table(report, "age_band") == {
        "under_18": None, "18_29": 5, "30_54": 5, "55_plus": None, "not_given": 0
    }  # fmt: skip
    # u1 was unemployed at the first entry (10 Feb) although employed from 1 March.
    assert table(report, "employment") == {
        "unemployed": 5,  # incl. the 2 long-term unemployed
        "long_term_unemployed": None,
        "inactive": None,
        "employed": 5,
        "not_given": None,
    }
    assert table(report, "education") == {
        "isced_0_2": None, "isced_3_4": None, "isced_5_8": 6, "not_given": 0
    }  # fmt: skip
    assert table(report, "groups") == {
        "disability": None, "third_country_national": 0, "foreign_background": 5, "minority": 0
    }  # fmt: skip
    assert table(report, "summary")["supported_organisations"] == 11
    assert table(report, "organisations") == {"association": 5, "sme": 6}
    assert table(report, "summary")["visits_without_registration"] == 0
    # u7..u12 granted ESF statistics consent, u12 withdrew it; only u7 the sensitive one.
    assert table(report, "consents") == {"esf_sensitive": None, "esf_statistics": 5}


async def test_periods_count_once_and_visits_are_not_participants(fed: Harness) -> None:
    q2 = await fed.report("esf", "2026-Q2")
    # u6 and u7 came back in April: 2 participants, suppressed; the pop-up's 42 visits
    # (the corrected head count) are visits, not participants.
    assert table(q2, "summary") == {
        "participants": None, "visits_without_registration": 42, "supported_organisations": 0
    }  # fmt: skip
    assert table(q2, "visits") == {"park": 42}
    year = await fed.report("esf", "2026")
    assert table(year, "summary")["participants"] == 12  # not 14: once per period
    february = await fed.report("esf", "2026-02")
    # February entries: u1..u6 (E1), u12 (booking), u1 (booking) -> 7 people.
    assert table(february, "summary")["participants"] == 7


async def test_municipality_isolation_and_network(fed: Harness) -> None:
    kouvola = await fed.report("esf", "2026-Q1", municipality="kouvola")
    # Kouvola's own staff: u16..u20 and u5 (who also took part in Helsinki) -> 6.
    assert table(kouvola, "summary")["participants"] == 6
    # woman 1 (u5) is suppressed, and with it man 5: otherwise 6 - 5 would reveal her.
    assert table(kouvola, "gender") == {"woman": None, "man": None, "non_binary": 0, "not_given": 0}
    assert table(kouvola, "age_band") == {
        "under_18": 0, "18_29": None, "30_54": None, "55_plus": 0, "not_given": 0
    }  # fmt: skip
    assert table(kouvola, "summary")["supported_organisations"] is None  # 1 organisation
    # Helsinki staff may not read Kouvola nor the network; a resident reads nothing.
    for params, roles in (
        ({"municipality": "kouvola"}, ["staff", "admin"]),
        ({"municipality": "network"}, ["admin"]),
        ({}, ["resident"]),
        ({}, ["mentor", "partner"]),
    ):
        response = await fed.get(
            "/analytics/reports/esf", {"period": "2026-Q1", **params}, roles=roles
        )
        assert response.status_code == 403, (params, roles)
        assert response.headers["content-type"] == "application/problem+json"
    assert (await fed.client.get("/analytics/reports/esf")).status_code == 401
    # The network role: another municipality and the whole network, u5 counted once.
    other = await fed.report("esf", "2026-Q1", scope="kouvola", roles=["analyst"])
    assert table(other, "summary")["participants"] == 6
    network = await fed.report("esf", "2026-Q1", scope="network", roles=["analyst"])
    assert network["scope"] == "network"
    assert table(network, "summary")["participants"] == 17
    # woman 6, man 10, non_binary 1: 1 is suppressed, and woman (6) with it.
    assert table(network, "gender") == {
        "woman": None,
        "man": 10,
        "non_binary": None,
        "not_given": 0,
    }
    assert table(network, "summary")["supported_organisations"] == 12


async def test_bad_period_is_a_problem_naming_the_field(fed: Harness) -> None:
    for bad in ("2026-Q5", "last year", "2026-13", "26"):
        response = await fed.get("/analytics/reports/esf", {"period": bad})
        assert response.status_code == 422, bad
        assert response.json()["errors"][0]["field"] == "period"
    response = await fed.get("/analytics/reports/nonsense", {"period": "2026"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "name"


async def test_threshold_is_configurable(fed: Harness) -> None:
    period = parse_period("2026-Q1", "Europe/Helsinki")
    shown = await esf_report(fed.db, scope=Scope("helsinki"), period=period, threshold=1)
    assert shown.table("gender").column("participants") == {
        "woman": 6, "man": 5, "non_binary": 1, "not_given": 0
    }  # fmt: skip
    strict = await esf_report(fed.db, scope=Scope("helsinki"), period=period, threshold=7)
    assert strict.table("gender").column("participants") == {
        "woman": None, "man": None, "non_binary": None, "not_given": 0
    }  # fmt: skip
    assert strict.table("summary").column("value")["participants"] == 12


async def test_csv_and_xlsx_exports_keep_suppression(fed: Harness) -> None:
    response = await fed.get("/analytics/exports/esf.csv", {"period": "2026-Q1"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "kohtaamo-esf-helsinki-2026-Q1.csv" in response.headers["content-disposition"]
    lines = list(csv.DictReader(io.StringIO(response.text)))
    cells = {(r["table"], r["row"], r["column"]): r for r in lines}
    assert cells[("summary", "participants", "value")]["value"] == "12"
    assert cells[("gender", "woman", "participants")]["value"] == "6"
    suppressed = cells[("gender", "non_binary", "participants")]
    assert suppressed["value"] == "" and suppressed["suppressed"] == "true"
    assert cells[("gender", "man", "participants")]["suppressed"] == "true"
    assert {r["scope"] for r in lines} == {"helsinki"}

    response = await fed.get("/analytics/exports/esf.xlsx", {"period": "2026-Q1"})
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames[:3] == ["report", "summary", "gender"]
    gender = {row[0]: row[1] for row in book["gender"].iter_rows(min_row=3, values_only=True)}
    assert gender == {"woman": 6, "man": "<5", "non_binary": "<5", "not_given": 0}
    # Exports obey the same tenancy as the reports.
    denied = await fed.get("/analytics/exports/esf.csv", {"municipality": "kouvola"})
    assert denied.status_code == 403
    bad = await fed.get("/analytics/exports/esf.pdf", {"period": "2026"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "fmt"


async def test_esf_charts_png_and_svg(fed: Harness) -> None:
    png = await fed.get("/analytics/charts/esf.png", {"period": "2026-Q1"})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n") and len(png.content) > 10_000
    svg = await fed.get("/analytics/charts/esf.svg", {"period": "2026-Q1"})
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    text = svg.text
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    # The chart is titled with its scope and period, and labels the suppressed bars.
    assert "helsinki" in text and "2026-Q1" in text and "&lt;5" in text
    assert (await fed.get("/analytics/charts/esf.svg", roles=["resident"])).status_code == 403


async def test_counters_agree_with_direct_computation(fed: Harness) -> None:
    """The report reads incrementally kept counters; recomputing the participants from
    entries and profiles directly must give the same figures."""
    for scope in ("helsinki", "kouvola", "network"):
        for label in ("2026", "2026-H1", "2026-Q1", "2026-Q2", "2026-02", "2026-04"):
            period = parse_period(label, "Europe/Helsinki")
            people = await participants(fed.db, Scope(scope), period)
            report = await esf_report(fed.db, scope=Scope(scope), period=period, threshold=1)
            assert report.table("summary").column("value")["participants"] == len(people)
            genders = report.table("gender").column("participants")
            for g in ("woman", "man", "non_binary", "not_given"):
                assert genders[g] == sum(1 for p in people if p["gender"] == g), (scope, label)
