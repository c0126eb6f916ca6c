// Residents: events as a list, a month calendar, or a map of Avaa tila places.
import { get, getAll, session } from "../api.js";
import { h, svg, field, select } from "../dom.js";
import { t, loc, locLang, fmtDateTime, fmtMonth, fmtTime, weekdayNames } from "../i18n.js";
import { listMunicipalities, navigate } from "../app.js";

export const EVENT_KINDS = [
  "workshop", "course", "meetup", "peer_session", "avaa_tila", "staff_training",
];

function today() {
  return new Date().toISOString().slice(0, 10);
}

function hashFor(params) {
  const clean = Object.fromEntries(Object.entries(params).filter(([, v]) => v));
  const qs = new URLSearchParams(clean).toString();
  return qs ? `#/events?${qs}` : "#/events";
}

export function eventCard(ev) {
  const seats =
    ev.capacity == null
      ? t("event.noLimit")
      : ev.seats_free > 0
        ? t("event.seatsFree", { n: ev.seats_free })
        : t("event.full");
  return h(
    "li",
    { class: "card event-card" },
    h(
      "h3",
      {},
      h("a", { href: `#/events/${ev.id}`, lang: locLang(ev.title), text: loc(ev.title) }),
    ),
    h(
      "p",
      { class: "meta" },
      h("span", { class: `tag kind-${ev.kind}`, text: t(`kind.${ev.kind}`) }),
      " ",
      h("time", { datetime: ev.starts_at, text: fmtDateTime(ev.starts_at, ev.timezone) }),
    ),
    ev.venue_name && loc(ev.venue_name) ? h("p", { text: loc(ev.venue_name) }) : null,
    ev.status === "published" ? h("p", { class: "seats", text: seats }) : null,
  );
}

async function municipalityChoice(params) {
  if (session.user()) return null;
  const found = await listMunicipalities();
  if (!found.length) return null;
  return select(
    found.map((m) => [m.slug, loc(m.name)]),
    params.municipality || found[0].slug,
    { name: "municipality" },
  );
}

function filtersForm(params, municipality) {
  const q = h("input", { type: "search", name: "q", value: params.q || "" });
  const kind = select(
    [["", t("filter.allKinds")], ...EVENT_KINDS.map((k) => [k, t(`kind.${k}`)])],
    params.kind,
    { name: "kind" },
  );
  const from = h("input", { type: "date", name: "from", value: params.from || today() });
  return h(
    "form",
    {
      class: "filters",
      role: "search",
      "aria-label": t("filter.label"),
      onsubmit: (e) => {
        e.preventDefault();
        navigate(
          hashFor({
            ...params,
            q: q.value.trim(),
            kind: kind.value,
            from: from.value,
            municipality: municipality ? municipality.value : params.municipality,
          }),
        );
      },
    },
    field(t("filter.search"), q),
    field(t("filter.kind"), kind),
    field(t("filter.from"), from),
    municipality ? field(t("field.municipality"), municipality) : null,
    h("button", { type: "submit", class: "primary", text: t("filter.apply") }),
  );
}

function viewTabs(params) {
  const current = params.view || "list";
  return h(
    "nav",
    { class: "tabs", "aria-label": t("events.views") },
    h(
      "ul",
      {},
      ["list", "calendar", "map"].map((v) =>
        h(
          "li",
          {},
          h("a", {
            href: hashFor({ ...params, view: v === "list" ? "" : v }),
            "aria-current": v === current ? "page" : null,
            text: t(`events.view.${v}`),
          }),
        ),
      ),
    ),
  );
}

async function listing(params) {
  const from = params.from || today();
  // A page is shorter on a phone: 50 cards there are several metres of scrolling.
  const limit = window.matchMedia("(max-width: 40rem)").matches ? 20 : 50;
  const offset = Math.max(0, Number(params.offset) || 0);
  const found = await get("/events", {
    q: params.q,
    kind: params.kind,
    municipality: params.municipality,
    from: `${from}T00:00:00`,
    limit,
    offset,
  });
  if (!found.items.length) return h("p", { text: t("events.none") });
  const paging = h("nav", { class: "paging", "aria-label": t("events.pages") },
    offset > 0 ? h("a", { class: "button secondary", href: hashFor({ ...params, offset: String(Math.max(0, offset - limit)) }), text: t("events.previous") }) : null,
    found.next != null ? h("a", { class: "button secondary", href: hashFor({ ...params, offset: String(found.offset + found.items.length) }), text: t("events.next") }) : null);
  return h("div", {},
    h("p", { class: "results-count", role: "status", text: t("events.showing", { first: offset + 1, last: offset + found.items.length }) }),
    h("ul", { class: "cards", "aria-label": t("events.results") }, found.items.map(eventCard)),
    paging.children.length ? paging : null);
}

function monthRange(monthParam) {
  const base = monthParam ? new Date(`${monthParam}-01T00:00:00`) : new Date();
  const first = new Date(base.getFullYear(), base.getMonth(), 1);
  const next = new Date(base.getFullYear(), base.getMonth() + 1, 1);
  return { first, next };
}

const ym = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}`;
const ymd = (d) => `${ym(d)}-${String(d.getDate()).padStart(2, "0")}`;

async function calendar(params) {
  const { first, next } = monthRange(params.month);
  const found = await get("/events", {
    q: params.q,
    kind: params.kind,
    municipality: params.municipality,
    from: `${ymd(first)}T00:00:00`,
    to: `${ymd(next)}T00:00:00`,
    limit: 100,
  });
  // An event is shown on every day of the month it runs (an exhibition of weeks, a course
  // that began last month), not only on the day it starts.
  const byDay = {};
  for (const ev of found.items) {
    const dayOf = (d) => new Intl.DateTimeFormat("sv-SE", { timeZone: ev.timezone }).format(d);
    const last = dayOf(new Date(new Date(ev.ends_at).getTime() - 1));
    let day = new Date(Math.max(new Date(ev.starts_at).getTime(), first.getTime()));
    const seen = new Set();
    while (day < next && dayOf(day) <= last) {
      const key = dayOf(day);
      if (!seen.has(key)) (byDay[key] = byDay[key] || []).push(ev);
      seen.add(key);
      day = new Date(day.getTime() + 43200000); // half days: a DST change never skips one
    }
  }
  const prev = new Date(first.getFullYear(), first.getMonth() - 1, 1);
  const caption = fmtMonth(first);
  const table = h(
    "table",
    { class: "calendar" },
    h("caption", { class: "visually-hidden", text: caption }),
    h("thead", {}, h("tr", {}, weekdayNames().map((d) => h("th", { scope: "col", text: d })))),
  );
  const body = h("tbody");
  let day = new Date(first);
  day.setDate(day.getDate() - ((day.getDay() + 6) % 7));
  while (day < next) {
    const row = h("tr");
    for (let i = 0; i < 7; i++) {
      const key = ymd(day);
      const inMonth = day.getMonth() === first.getMonth();
      const events = byDay[key] || [];
      row.append(
        h(
          "td",
          { class: inMonth ? "" : "outside" },
          h("span", { class: "day-number", text: String(day.getDate()) }),
          events.length
            ? h(
                "ul",
                {},
                events.map((ev) =>
                  h(
                    "li",
                    {},
                    h("a", {
                      href: `#/events/${ev.id}`,
                      text: `${fmtTime(ev.starts_at, ev.timezone)} ${loc(ev.title)}`,
                    }),
                  ),
                ),
              )
            : null,
        ),
      );
      day = new Date(day.getFullYear(), day.getMonth(), day.getDate() + 1);
    }
    body.append(row);
  }
  table.append(body);
  return h(
    "div",
    {},
    h(
      "div",
      { class: "month-nav" },
      h("a", { href: hashFor({ ...params, month: ym(prev) }), text: `← ${t("calendar.prev")}` }),
      h("h2", { text: caption }),
      h("a", { href: hashFor({ ...params, month: ym(next) }), text: `${t("calendar.next")} →` }),
    ),
    h("div", { class: "table-scroll" }, table),
  );
}

// A schematic map: the places' coordinates on a plain projection, drawn as SVG (no map
// tiles are loaded from anywhere); each place also links to OpenStreetMap.
async function placesMap(params) {
  const [venues, events] = await Promise.all([
    getAll("/venues", { municipality: params.municipality, limit: 200 }),
    get("/events", {
      kind: "avaa_tila",
      municipality: params.municipality,
      from: `${params.from || today()}T00:00:00`,
      limit: 100,
    }),
  ]);
  const popups = {};
  for (const ev of events.items) {
    if (ev.venue_id) (popups[ev.venue_id] = popups[ev.venue_id] || []).push(ev);
  }
  const places = venues.filter((v) => v.latitude != null && v.longitude != null);
  const W = 600;
  const H = 400;
  const pad = 40;
  const lats = places.map((p) => p.latitude);
  const lons = places.map((p) => p.longitude);
  const minLat = Math.min(...lats);
  const maxLat = Math.max(...lats);
  const minLon = Math.min(...lons);
  const maxLon = Math.max(...lons);
  const k = Math.cos(((minLat + maxLat) / 2) * (Math.PI / 180));
  const spanX = Math.max((maxLon - minLon) * k, 0.002);
  const spanY = Math.max(maxLat - minLat, 0.002);
  const scale = Math.min((W - 2 * pad) / spanX, (H - 2 * pad) / spanY);
  const x = (lon) => pad + (lon - minLon) * k * scale;
  const y = (lat) => H - pad - (lat - minLat) * scale;
  const titleId = "map-title";
  const drawing = svg(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, class: "map", role: "img", "aria-labelledby": titleId },
    svg("title", { id: titleId, text: t("map.title") }),
    svg("rect", { x: 0, y: 0, width: W, height: H, class: "map-bg" }),
    places.map((p, i) => {
      const has = !!popups[p.id];
      return svg(
        "g",
        { class: has ? "place popup" : "place" },
        svg("circle", { cx: x(p.longitude), cy: y(p.latitude), r: has ? 9 : 6 }),
        svg("text", {
          x: x(p.longitude) + 12,
          y: y(p.latitude) + 4 + (i % 2 ? 12 : 0),
          text: loc(p.name),
        }),
      );
    }),
  );
  const list = h(
    "ul",
    { class: "places" },
    places.map((p) =>
      h(
        "li",
        { class: popups[p.id] ? "has-popups" : "" },
        h("strong", { text: loc(p.name) }),
        ` (${t(`venueKind.${p.kind}`)})`,
        " ",
        h("a", {
          href: `https://www.openstreetmap.org/?mlat=${p.latitude}&mlon=${p.longitude}#map=17/${p.latitude}/${p.longitude}`,
          rel: "noopener",
          target: "_blank",
          text: t("map.osm"),
        }),
        popups[p.id]
          ? h(
              "ul",
              {},
              popups[p.id].map((ev) =>
                h(
                  "li",
                  {},
                  h("a", {
                    href: `#/events/${ev.id}`,
                    text: `${loc(ev.title)}, ${fmtDateTime(ev.starts_at, ev.timezone)}`,
                  }),
                ),
              ),
            )
          : null,
      ),
    ),
  );
  return h(
    "div",
    { class: "map-view" },
    h("p", { text: t("map.legend") }),
    places.length ? drawing : h("p", { text: t("map.none") }),
    h("h2", { text: t("map.places") }),
    list,
  );
}

export async function eventsView(params) {
  const municipality = await municipalityChoice(params);
  if (municipality && !params.municipality) params = { ...params, municipality: municipality.value };
  const view = params.view || "list";
  const body =
    view === "calendar" ? await calendar(params) : view === "map" ? await placesMap(params) : await listing(params);
  return h(
    "section",
    {},
    h("h1", { text: t("events.title") }),
    filtersForm(params, municipality),
    viewTabs(params),
    h("div", { class: "view-body" }, body),
  );
}
