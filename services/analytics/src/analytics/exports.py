"""CSV and XLSX exports of any report. Suppressed cells stay suppressed: in CSV an empty
value with `suppressed` true, in XLSX the text "<threshold". Written with kit.sheets: text
people typed (skills) is never a formula."""

from __future__ import annotations

from typing import Any

from analytics.reports import Report
from kit import sheets

CSV_COLUMNS = ["report", "scope", "period", "table", "row", "column", "value", "suppressed"]


def to_csv(report: Report) -> str:
    """Long format: one line per cell, so every table fits one file and one schema."""
    rows = [
        [
            report.report,
            report.scope,
            report.period,
            table.name,
            row[0],
            column,
            "" if value is None else value,
            "true" if value is None else "false",
        ]
        for table in report.tables
        for row in table.rows
        for column, value in zip(table.columns[1:], row[1:], strict=True)
    ]
    return sheets.to_csv(CSV_COLUMNS, rows)


def to_xlsx(report: Report) -> bytes:
    """One sheet per table, after a sheet describing the report."""
    about = sheets.Sheet(
        "report",
        [
            ["report", report.report],
            ["scope", report.scope],
            ["period", report.period],
            ["suppression_threshold", report.threshold],
            ["suppressed cells", f"<{report.threshold}"],
        ],
    )
    tables = [
        sheets.Sheet(
            table.name,
            [
                [table.title],
                table.columns,
                *([_cell(v, report.threshold) for v in row] for row in table.rows),
            ],
            bold_rows=2,
        )
        for table in report.tables
    ]
    return sheets.to_xlsx([about, *tables])


def _cell(value: Any, threshold: int) -> Any:
    if value is None:
        return f"<{threshold}"
    if isinstance(value, list | dict):
        return str(value)
    return value
