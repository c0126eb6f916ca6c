// Analysts and staff: headline figures, charts of the analytics reports (SVG bars with the
// numbers as a table too), and CSV/XLSX exports. Suppressed (small) counts show as "–".
import { get, download } from "../api.js";
import { h, svg, field } from "../dom.js";
import { t, fmtNumber } from "../i18n.js";
import { announce, announceProblem, navigate } from "../app.js";

const REPORTS = ["esf", "usage", "utilisation", "network"];
const KPIS = [
  "participants", "events_held", "attendances", "visits_without_registration", "utilisation",
  "booked_hours", "mentors_with_active_offer", "mentor_meetings_held", "staff_learning_hours",
  "supported_organisations",
];
const CHARTS = [
  "attendances_by_kind", "participants_by_age_band", "participants_by_gender",
  "utilisation_by_kind", "visits_by_avaa_tila_place", "skills_offered", "skills_asked",
  "participants_by_employment", "participants_by_education",
];
const RATIO = new Set(["utilisation", "utilisation_by_kind"]);

function value(name, v) {
  if (v === null || v === undefined) return "–";
  return RATIO.has(name) ? `${fmtNumber(Math.round(v * 1000) / 10)} %` : fmtNumber(v);
}

function label(l) {
  const key = `label.${l}`;
  const text = t(key);
  return text === key ? String(l) : text;
}

function barChart(name, series) {
  const rows = series.labels.map((l, i) => [label(l), series.values[i]]);
  const max = Math.max(1, ...rows.map(([, v]) => v || 0));
  // Drawn at about the size it is shown, so its text stays as large as the page's.
  const rowH = 30;
  const W = 420;
  const labelW = 170;
  const H = rows.length * rowH + 10;
  const titleId = `chart-${name}`;
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-labelledby": titleId },
    svg("title", { id: titleId, text: t(`chart.${name}`) }),
    rows.map(([l, v], i) => {
      const y = i * rowH + 5;
      const width = v ? ((W - labelW - 60) * v) / max : 0;
      return svg("g", {},
        svg("title", { text: `${l}: ${value(name, v)}` }),
        svg("text", { x: labelW - 8, y: y + 19, "text-anchor": "end", class: "chart-label",
                      text: l.length > 20 ? `${l.slice(0, 19)}…` : l }),
        svg("rect", { x: labelW, y: y + 3, width: Math.max(width, v ? 2 : 0), height: rowH - 8, class: v == null ? "bar suppressed" : "bar" }),
        svg("text", { x: labelW + width + 6, y: y + 19, class: "chart-value", text: value(name, v) }));
    }));
  const table = h("table", { class: "data" },
    h("caption", { text: t("dash.asTable") }),
    h("thead", {}, h("tr", {}, h("th", { scope: "col", text: t("dash.category") }), h("th", { scope: "col", text: t("dash.value") }))),
    h("tbody", {}, rows.map(([l, v]) => h("tr", {}, h("th", { scope: "row", text: l }), h("td", { text: value(name, v) })))));
  return h("figure", { class: "card chart-card" },
    h("figcaption", {}, h("h2", { text: t(`chart.${name}`) })),
    rows.length ? chart : h("p", { text: t("dash.noData") }),
    rows.length ? h("details", {}, h("summary", { text: t("dash.showTable") }), table) : null);
}

export async function dashboardView() {
  const params = new URLSearchParams(sessionStorage.getItem("kohtaamo.dash") || "");
  const period = params.get("period") || String(new Date().getFullYear());
  const data = await get("/analytics/dashboard", { period });
  const periodInput = h("input", { name: "period", value: period, pattern: "\\d{4}(-(H[12]|Q[1-4]|\\d{2}))?" });
  const exports = h("ul", { class: "exports" }, REPORTS.map((r) => h("li", {},
    h("span", { text: t(`report.${r}`) }), " ",
    ["csv", "xlsx"].map((fmt) => h("button", { type: "button", class: "secondary", text: fmt.toUpperCase(),
      "aria-label": `${t(`report.${r}`)} ${fmt.toUpperCase()}`,
      onclick: async () => {
        try {
          await download(`/analytics/exports/${r}.${fmt}`, { period }, `kohtaamo-${r}-${data.scope}-${data.period}.${fmt}`);
          announce(t("dash.downloaded"));
        } catch (err) { announceProblem(err); }
      } })))));
  return h("section", { class: "dashboard" },
    h("h1", { text: t("nav.dashboard") }),
    h("form", { class: "filters", onsubmit: (e) => {
      e.preventDefault();
      sessionStorage.setItem("kohtaamo.dash", new URLSearchParams({ period: periodInput.value }).toString());
      navigate("#/dashboard");
    } }, field(t("dash.period"), periodInput, t("dash.periodHint")), h("button", { type: "submit", class: "primary", text: t("filter.apply") })),
    h("p", { text: t("dash.scope", { scope: data.scope, period: data.period, n: data.suppression_threshold }) }),
    h("ul", { class: "kpis" }, KPIS.filter((k) => k in data.kpis).map((k) => h("li", { class: "kpi" },
      h("span", { class: "kpi-value", text: value(k, data.kpis[k]) }), h("span", { class: "kpi-label", text: t(`kpi.${k}`) })))),
    h("section", { class: "card", "aria-labelledby": "exports-title" }, h("h2", { id: "exports-title", text: t("dash.exports") }), exports),
    h("div", { class: "charts" }, CHARTS.filter((c) => data.series[c]).map((c) => barChart(c, data.series[c]))));
}
