"""What the analytics API answers, as its OpenAPI document states it (issue 24): reports,
the dashboard and a rebuild's outcome. Built by `Report.as_dict()`, `dashboard()` and
`rebuild()`; these models document them (kit.openapi.returns)."""

from __future__ import annotations

from pydantic import BaseModel, Field

# A cell: a label, a count, a ratio; null when suppressed (fewer than the threshold).
Cell = str | int | float | None


class TableOut(BaseModel):
    name: str = Field(examples=["summary"])
    title: str
    columns: list[str] = Field(examples=[["measure", "value"]])
    rows: list[list[Cell]] = Field(examples=[[["participants", 42]]])


class ReportOut(BaseModel):
    report: str = Field(examples=["esf"])
    scope: str = Field(description="A municipality or `network`", examples=["helsinki"])
    period: str = Field(examples=["2026"])
    suppression_threshold: int = Field(description="Cells below this many people are null")
    tables: list[TableOut]
    notes: list[str]


class Series(BaseModel):
    labels: list[Cell]
    values: list[Cell]


class Kpis(BaseModel):
    participants: Cell
    visits_without_registration: Cell
    supported_organisations: Cell
    events_held: Cell
    attendances: Cell
    utilisation: Cell
    booked_hours: Cell
    mentors_with_active_offer: Cell
    mentor_meetings_held: Cell
    staff_learning_hours: Cell


class DashboardOut(BaseModel):
    scope: str
    period: str
    suppression_threshold: int
    kpis: Kpis
    series: dict[str, Series] = Field(description="Chart series by name")


class Rebuilt(BaseModel):
    facts_replayed: int
    seconds: float
