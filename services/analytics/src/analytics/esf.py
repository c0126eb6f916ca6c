"""ESF+ common indicators for a municipality (or the network) and a period."""

from __future__ import annotations

from collections import Counter

from analytics import esf_counts
from analytics import suppression as sup
from analytics.periods import Period
from analytics.projections import CONSENTS, Db
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
    # One counters document per scope and year (see esf_counts.py): no scan of
    # participants at report time.
    c = await esf_counts.counts(db, scope.name, period.label)

    def group(prefix: str) -> Counter[str]:
        return Counter(
            {k.removeprefix(prefix): v for k, v in c.items() if k.startswith(prefix) and v}
        )

    gender, age, education = group("gender__"), group("age_band__"), group("education__")
    employment_raw, groups = group("employment__"), group("groups__")
    visits_by_kind, orgs = dict(group("visits__")), dict(group("orgs__"))
    visits = sum(visits_by_kind.values())
    total = c.get("participants", 0)
    report = Report("esf", scope.name, period.label, threshold)
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
