"""The shape every report has: named tables of rows, ready for JSON, CSV, XLSX and charts.
A suppressed cell is None in JSON and shown as "<threshold" in exports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Table:
    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "columns": self.columns, "rows": self.rows}

    def column(self, name: str) -> dict[Any, Any]:
        """First column -> the named column (handy in tests and charts)."""
        i = self.columns.index(name)
        return {row[0]: row[i] for row in self.rows}


@dataclass
class Report:
    report: str
    scope: str  # a municipality, or "network"
    period: str
    threshold: int
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "report": self.report,
            "scope": self.scope,
            "period": self.period,
            "suppression_threshold": self.threshold,
            "tables": [t.as_dict() for t in self.tables],
            "notes": self.notes,
        }
