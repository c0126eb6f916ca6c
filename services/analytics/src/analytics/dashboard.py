"""Data for the web UI's dashboard: headline figures and chart series, all suppressed."""

from __future__ import annotations

from typing import Any

from analytics.reports import Report


def dashboard(reports: dict[str, Report]) -> dict[str, Any]:
    esf, usage, util, network = (reports[n] for n in ("esf", "usage", "utilisation", "network"))
    summary = esf.table("summary").column("value")
    used = usage.table("summary").column("value")
    total = util.table("summary")
    mentoring = network.table("mentoring").column("value")
    staff = network.table("staff_learning").column("value")

    def series(report: Report, table: str, column: str) -> dict[str, Any]:
        t = report.table(table)
        i = t.columns.index(column)
        return {"labels": [r[0] for r in t.rows], "values": [r[i] for r in t.rows]}

    return {
        "scope": esf.scope,
        "period": esf.period,
        "suppression_threshold": esf.threshold,
        "kpis": {
            "participants": summary["participants"],
            "visits_without_registration": summary["visits_without_registration"],
            "supported_organisations": summary["supported_organisations"],
            "events_held": used["events_held"],
            "attendances": used["attendances"],
            "utilisation": total.rows[0][total.columns.index("utilisation")],
            "booked_hours": total.rows[0][total.columns.index("booked_hours")],
            "mentors_with_active_offer": mentoring["mentors_with_active_offer"],
            "mentor_meetings_held": mentoring["mentor_meetings_held"],
            "staff_learning_hours": staff["learning_hours"],
        },
        "series": {
            "participants_by_gender": series(esf, "gender", "participants"),
            "participants_by_age_band": series(esf, "age_band", "participants"),
            "participants_by_employment": series(esf, "employment", "participants"),
            "participants_by_education": series(esf, "education", "participants"),
            "attendances_by_kind": series(usage, "by_kind", "attendances"),
            "visits_by_avaa_tila_place": series(usage, "avaa_tila", "visits"),
            "utilisation_by_kind": series(util, "by_kind", "utilisation"),
            "utilisation_by_hour_of_week": series(util, "by_hour_of_week", "utilisation"),
            "skills_offered": series(network, "skills", "people_offering"),
            "skills_asked": series(network, "skills", "people_asking"),
        },
    }
