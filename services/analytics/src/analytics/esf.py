"""ESF+ common indicators for a municipality (or the network) and a period."""

from __future__ import annotations

from collections import Counter
from typing import Any

from analytics import suppression as sup
from analytics.participants import participants
from analytics.periods import Period
from analytics.projections import CONSENTS, ORGS, VISITS, Db
from analytics.reports import Report, Table
from analytics.scope import Scope

GENDERS = ["woman", "man", "non_binary", "not_given"]
AGE_BANDS = ["under_18", "18_29", "30_54", "55_plus", "not_given"]
EDUCATION = ["isced_0_2", "isced_3_4", "isced_5_8", "not_given"]
# ESF+ counts the long-term unemployed both on their own and among the unemployed, so the
# employment rows are not exclusive: "unemployed" includes "long_term_unemployed".
EMPLOYMENT = ["unemployed", "long_term_unemployed", "inactive", "employed", "not_given"]
GROUPS = ["disability", "third_country_national", "foreign_background", "minority"]


def _breakdown_table(
    name: str, title: str, categories: list[str], counts: Counter[str], threshold: int
) -> Table:
    shown = sup.breakdown({c: counts.get(c, 0) for c in categories}, threshold)
    return Table(name, title, ["category", "participants"], [[c, shown[c]] for c in categories])


async def esf_report(
    db: Db, *, scope: Scope, period: Period, threshold: int, tz: str = "Europe/Helsinki"
) -> Report:
    people = await participants(db, scope, period)
    gender = Counter(p["gender"] for p in people)
    age = Counter(p["age_band"] for p in people)
    education = Counter(p["education"] for p in people)
    employment_raw = Counter(p["employment"] for p in people)
    groups = Counter(g for p in people for g in GROUPS if p.get(g) is True)

    report = Report("esf", scope.name, period.label, threshold)
    total = len(people)
    visits, visits_by_kind = await _visits(db, scope, period)
    orgs = await _organisations(db, scope, period)
    report.tables.append(
        Table(
            "summary",
            "ESF+ summary",
            ["indicator", "value"],
            [
                ["participants", sup.count(total, threshold)],
                ["visits_without_registration", sup.count(visits, threshold)],
                ["supported_organisations", sup.count(sum(orgs.values()), threshold)],
            ],
        )
    )
    report.tables.append(
        _breakdown_table("gender", "Participants by gender", GENDERS, gender, threshold)
    )
    report.tables.append(
        _breakdown_table("age_band", "Participants by age band", AGE_BANDS, age, threshold)
    )
    # The exclusive employment categories are suppressed together; the long-term
    # unemployed row (a subset) is then added on its own.
    exclusive = {
        "unemployed": employment_raw["unemployed"] + employment_raw["long_term_unemployed"],
        "inactive": employment_raw["inactive"],
        "employed": employment_raw["employed"],
        "not_given": employment_raw["not_given"],
    }
    shown = sup.breakdown(exclusive, threshold)
    long_term = sup.count(employment_raw["long_term_unemployed"], threshold)
    report.tables.append(
        Table(
            "employment",
            "Participants by employment status",
            ["category", "participants"],
            [
                ["unemployed", shown["unemployed"]],
                ["long_term_unemployed", long_term],
                ["inactive", shown["inactive"]],
                ["employed", shown["employed"]],
                ["not_given", shown["not_given"]],
            ],
        )
    )
    report.tables.append(
        _breakdown_table(
            "education", "Participants by education (ISCED)", EDUCATION, education, threshold
        )
    )
    report.tables.append(
        Table(
            "groups",
            "Participants in consent-based groups",
            ["category", "participants"],
            [[g, sup.count(groups.get(g, 0), threshold)] for g in GROUPS],
        )
    )
    report.tables.append(
        Table(
            "visits",
            "Visits at open events without registration, by venue kind",
            ["category", "visits"],
            [[k, v] for k, v in sorted(sup.breakdown(visits_by_kind, threshold).items())],
        )
    )
    report.tables.append(
        Table(
            "organisations",
            "Supported organisations by kind",
            ["category", "organisations"],
            [[k, v] for k, v in sorted(sup.breakdown(orgs, threshold).items())],
        )
    )
    consents = Counter(
        [c["purpose"] async for c in db[CONSENTS].find({**scope.match, "granted": True})]
    )
    report.tables.append(
        Table(
            "consents",
            "People whose latest consent is granted, by purpose (current, not per period)",
            ["purpose", "people"],
            [[k, sup.count(v, threshold)] for k, v in sorted(consents.items())],
        )
    )
    return report


async def _visits(db: Db, scope: Scope, period: Period) -> tuple[int, dict[str, int]]:
    by_kind: Counter[str] = Counter()
    query: dict[str, Any] = {**scope.match, "month": {"$in": period.months}}
    async for doc in db[VISITS].find(query, {"visits": 1, "venue_kind": 1}):
        by_kind[doc.get("venue_kind") or "unknown"] += int(doc["visits"])
    return sum(by_kind.values()), dict(by_kind)


async def _organisations(db: Db, scope: Scope, period: Period) -> dict[str, int]:
    by_kind: Counter[str] = Counter()
    query: dict[str, Any] = {**scope.match, "month": {"$in": period.months}}
    async for doc in db[ORGS].find(query, {"kind": 1}):
        by_kind[doc.get("kind") or "other"] += 1
    return dict(by_kind)
