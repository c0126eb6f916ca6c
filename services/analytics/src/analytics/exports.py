"""CSV and XLSX exports of any report. Suppressed cells stay suppressed: in CSV an empty
value with `suppressed` true, in XLSX the text "<threshold"."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from analytics.reports import Report

CSV_COLUMNS = ["report", "scope", "period", "table", "row", "column", "value", "suppressed"]


def to_csv(report: Report) -> str:
    """Long format: one line per cell, so every table fits one file and one schema."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for table in report.tables:
        for row in table.rows:
            for column, value in zip(table.columns[1:], row[1:], strict=True):
                writer.writerow(
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
                )
    return out.getvalue()


def to_xlsx(report: Report) -> bytes:
    """One sheet per table, after a sheet describing the report."""
    book = Workbook()
    about = book.active
    assert about is not None
    about.title = "report"
    for line in (
        ["report", report.report],
        ["scope", report.scope],
        ["period", report.period],
        ["suppression_threshold", report.threshold],
        ["suppressed cells", f"<{report.threshold}"],
    ):
        about.append(line)
    bold = Font(bold=True)
    for table in report.tables:
        sheet = book.create_sheet(table.name[:31])
        sheet.append([table.title])
        sheet["A1"].font = bold
        sheet.append(table.columns)
        for cell in sheet[2]:
            cell.font = bold
        for row in table.rows:
            sheet.append([_cell(v, report.threshold) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value: Any, threshold: int) -> Any:
    if value is None:
        return f"<{threshold}"
    if isinstance(value, list | dict):
        return str(value)
    return value
