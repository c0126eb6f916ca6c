"""PNG and SVG charts of the main reports (matplotlib's object API with the Agg canvas:
no global pyplot state, safe to render in a worker thread). Suppressed bars are drawn as
empty with the label "<threshold"."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure

from analytics.reports import Report, Table
from analytics.utilisation import DAYS

CHARTS = ("esf", "usage", "utilisation", "network")


def _bars(ax: Any, table: Table, column: str, threshold: int, title: str) -> None:
    labels = [str(row[0]) for row in table.rows]
    i = table.columns.index(column)
    values = [row[i] for row in table.rows]
    heights = [v or 0 for v in values]
    bars = ax.bar(labels, heights, color="#1f6f8b")
    for bar, v in zip(bars, values, strict=True):
        ax.annotate(
            f"<{threshold}" if v is None else f"{v:g}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)


def figure(report: Report) -> Figure:
    k = report.threshold
    heading = f"{report.report} · {report.scope} · {report.period}"
    if report.report == "esf":
        fig = Figure(figsize=(11, 7), layout="constrained")
        axes = fig.subplots(2, 2)
        names = ["gender", "age_band", "employment", "education"]
        for ax, name in zip(axes.flat, names, strict=True):
            table = report.table(name)
            _bars(ax, table, "participants", k, table.title)
    elif report.report == "usage":
        fig = Figure(figsize=(11, 4), layout="constrained")
        left, right = fig.subplots(1, 2)
        _bars(left, report.table("by_kind"), "attendances", k, "Attendances by event kind")
        _bars(right, report.table("avaa_tila"), "visits", k, "Avaa tila: visits by place")
    elif report.report == "utilisation":
        fig = Figure(figsize=(11, 4), layout="constrained")
        ax = fig.subplots()
        grid = [[float("nan")] * 24 for _ in range(7)]
        table = report.table("by_hour_of_week")
        i = table.columns.index("utilisation")
        for row in table.rows:
            if row[i] is not None:
                grid[DAYS.index(row[1])][row[2]] = row[i]
        image = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0, vmax=1)
        ax.set_yticks(range(7), DAYS)
        ax.set_xticks(range(0, 24, 2))
        ax.set_xlabel("hour (local time); blank: closed, unused or suppressed")
        ax.set_title("Utilisation by hour of the week", fontsize=10)
        fig.colorbar(image, ax=ax)
    elif report.report == "network":
        fig = Figure(figsize=(11, 4), layout="constrained")
        ax = fig.subplots()
        table = report.table("skills")
        # Skill names are what people typed: "$" would start matplotlib's math text.
        labels = [
            "(suppressed)" if r[0] is None else str(r[0]).replace("$", r"\$") for r in table.rows
        ]
        xs = range(len(labels))
        pairs = ((-0.2, "people_offering", "#1f6f8b"), (0.2, "people_asking", "#e07a5f"))
        for offset, column, colour in pairs:
            j = table.columns.index(column)
            heights = [r[j] or 0 for r in table.rows]
            ax.bar([x + offset for x in xs], heights, width=0.4, label=column, color=colour)
        ax.set_xticks(list(xs), labels, rotation=30, fontsize=8)
        ax.legend()
        ax.set_title(f"Skills offered and asked for (cells under {k} not shown)", fontsize=10)
    else:
        raise KeyError(report.report)
    fig.suptitle(heading, fontsize=11)
    return fig


def render(report: Report, fmt: str) -> bytes:
    out = io.BytesIO()
    figure(report).savefig(out, format=fmt, dpi=100)
    return out.getvalue()
