"""CSV and XLSX exports, one way for every service: what people typed can never become a
formula in the spreadsheet that opens it.

- Text that a spreadsheet would read as a formula (`= + - @`, a leading TAB, CR or LF, also
  after leading spaces, and their full-width forms) gets a leading apostrophe in CSV, which
  spreadsheets show as text.
- XLSX cells are typed: numbers are numbers, everything else a string cell, never a
  formula (openpyxl would otherwise store text starting with "=" as one); formula-like
  text also gets Excel's quote prefix, so editing the cell keeps it text. Characters XML
  cannot carry are dropped and text is cut at Excel's cell limit, so an export never fails
  on what someone typed."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The full-width forms (U+FF1D, U+FF0B, U+FF0D, U+FF20) are read as formulas by some.
_FORMULA_START = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
_CELL_MAX = 32_767  # Excel's limit of characters in one cell


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def text(value: Any) -> str:
    """A value as spreadsheet-safe text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    s = str(value)
    if s[:1] in _FORMULA_START or s.lstrip(" ")[:1] in _FORMULA_START:
        return "'" + s
    return s


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]], *, bom: bool = False) -> str:
    out = io.StringIO()
    # RFC 4180 line ends: a field holding a CR or LF is quoted (with "\n" alone as the
    # terminator, a CR inside a field went out unquoted and split the row for readers).
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([text(h) for h in header])
    for row in rows:
        writer.writerow([v if is_number(v) else text(v) for v in row])
    # A BOM makes Excel read UTF-8 right.
    return ("\ufeff" if bom else "") + out.getvalue()


@dataclass
class Sheet:
    title: str
    rows: list[Sequence[Any]] = field(default_factory=list)
    bold_rows: int = 0  # the first rows are headings


def sheet_title(title: str) -> str:
    """What Excel accepts as a sheet name."""
    return "".join(c for c in title if c not in "[]:*?/\\'")[:31].strip() or "sheet"


def to_xlsx(sheets: Sequence[Sheet]) -> bytes:
    book = Workbook()
    default = book.active
    bold = Font(bold=True)
    for sheet in sheets:
        ws = book.create_sheet(sheet_title(sheet.title))
        for r, row in enumerate(sheet.rows, start=1):
            for c, value in enumerate(row, start=1):
                cell = ws.cell(row=r, column=c)
                if is_number(value):
                    cell.value = value
                else:
                    raw = text_raw(value)
                    cell.value = ILLEGAL_CHARACTERS_RE.sub("", raw)[:_CELL_MAX]
                    cell.data_type = "s"  # never "f": text stays text
                    if text(raw) != raw:
                        cell.quotePrefix = True  # stays text when edited in Excel too
                if r <= sheet.bold_rows:
                    cell.font = bold
    if default is not None and sheets:
        book.remove(default)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def text_raw(value: Any) -> str:
    """A value as text for a typed string cell (no apostrophe: the type keeps it text)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
