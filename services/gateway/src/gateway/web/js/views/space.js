// A place's own page (LibCal/Varaamo-like): photo, description, address with a map link,
// opening hours, each space with its capacity, equipment, accessibility, price or free and
// terms, and the day's grid across its spaces with taken times shown as taken.
import { get, getAll } from "../api.js";
import { h, field, clear } from "../dom.js";
import { t, loc, locLang, currentLang } from "../i18n.js";
import { navigate } from "../app.js";
import { problemText } from "../problems.js";
import { dayGrid } from "./book.js";

const today = () => new Date().toISOString().slice(0, 10);
const DAYS = [0, 1, 2, 3, 4, 5, 6]; // Monday first, as the API numbers them

export function mapLink(address) {
  const url = new URL("https://www.openstreetmap.org/search");
  url.search = new URLSearchParams({ query: address }).toString();
  return h("a", { href: url.toString(), rel: "noopener", target: "_blank", text: t("space.map") });
}

function weekdayName(day) {
  // 2024-01-01 was a Monday
  return new Intl.DateTimeFormat(currentLang(), { weekday: "long" }).format(new Date(Date.UTC(2024, 0, 1 + day, 12)));
}

// "09:00" as the reader's language writes a time of day (fi 9.00, en 09:00).
function clock(hhmm) {
  const [hour, minute] = hhmm.split(":").map(Number);
  return new Intl.DateTimeFormat(currentLang(), { hour: "numeric", minute: "2-digit", timeZone: "UTC" }).format(new Date(Date.UTC(2024, 0, 1, hour, minute)));
}

function hoursTable(hours) {
  const weekly = hours?.weekly || {};
  return h("table", { class: "data hours" },
    h("caption", { text: t("space.hours") }),
    h("tbody", {}, DAYS.map((d) => {
      const periods = weekly[String(d)] || [];
      return h("tr", {}, h("th", { scope: "row", text: weekdayName(d) }),
        h("td", { text: periods.length ? periods.map((p) => `${clock(p.opens)}–${clock(p.closes)}`).join(", ") : t("space.closed") }));
    })));
}

function price(resource) {
  const p = resource.price;
  if (!p) return null;
  if (p.free) return t("space.free");
  const amount = new Intl.NumberFormat(currentLang(), { style: "currency", currency: p.currency || "EUR" }).format(p.amount);
  return t(`space.per.${p.per || "booking"}`, { amount });
}

function terms(resource) {
  const r = resource.rules;
  const out = [];
  if (r.approval_required) out.push(t("space.termApproval"));
  if (r.min_age != null) out.push(t("book.ageLimit", { age: r.min_age }));
  if (r.loan) out.push(t("space.termLoan", { days: r.max_loan_days }));
  else out.push(t("space.termLength", { min: r.min_minutes, max: r.max_minutes }));
  out.push(t("space.termAhead", { days: r.max_days_ahead }));
  if (r.cancel_deadline_minutes) out.push(t("space.termCancel", { hours: Math.ceil(r.cancel_deadline_minutes / 60) }));
  if (r.check_in_required && !r.loan) out.push(t("space.termCheckIn", { minutes: r.no_show_grace_minutes }));
  return out;
}

function facts(term, values) {
  if (!values || !values.length) return [];
  return [h("dt", { text: term }), h("dd", {}, values.length > 1 ? h("ul", {}, values.map((v) => h("li", { text: v }))) : values[0])];
}

function spaceCard(resource) {
  const id = `space-${resource.id}`;
  const cost = price(resource);
  const ownTerms = loc(resource.terms || {});
  return h("section", { class: "card space", "aria-labelledby": id },
    h("h3", { id, class: "long-text", lang: locLang(resource.name), text: loc(resource.name) }),
    h("p", { class: "meta" }, h("span", { class: "tag", text: t(`rkind.${resource.kind}`) })),
    loc(resource.description || {}) ? h("p", { class: "long-text", lang: locLang(resource.description), text: loc(resource.description) }) : null,
    h("dl", { class: "facts" },
      facts(t("space.capacity"), [t("book.capacity", { n: resource.capacity })]),
      facts(t("space.equipment"), resource.equipment),
      facts(t("space.accessibility"), resource.accessibility),
      facts(t("space.price"), cost ? [cost] : []),
      facts(t("space.terms"), [...terms(resource), ...(ownTerms ? [ownTerms] : [])])),
    h("p", {}, h("a", { class: "button primary", href: `#/book?resource=${encodeURIComponent(resource.id)}`, text: t("space.book"), "aria-label": `${t("space.book")}: ${loc(resource.name)}` })));
}

export async function spaceView(id) {
  const [place, resources] = await Promise.all([
    get(`/locations/${encodeURIComponent(id)}`),
    getAll("/resources", { location_id: id }),
  ]);
  const active = resources.filter((r) => r.active !== false);
  const date = h("input", { type: "date", name: "date", value: today(), min: today() });
  const grid = h("div", { "aria-live": "polite" });
  async function showDay() {
    clear(grid).append(h("p", { class: "loading", text: t("loading") }));
    try {
      const avail = await get(`/locations/${encodeURIComponent(id)}/availability`, { from: date.value, to: date.value });
      const byId = Object.fromEntries(active.map((r) => [r.id, r]));
      const shown = avail.resources.filter((e) => byId[e.resource_id]);
      const openers = Object.fromEntries(shown.map((e) => [e.resource_id, () => {
        sessionStorage.setItem("kohtaamo.bookFilters", JSON.stringify({ location: id, kind: byId[e.resource_id].kind, date: date.value }));
        navigate(`#/book?resource=${encodeURIComponent(e.resource_id)}`);
      }]));
      const table = dayGrid(shown, byId, avail.timezone, openers, { min: 1 });
      clear(grid).append(table || h("p", { text: shown.some((e) => (e.open || []).length) ? t("book.noSlots") : t("book.closed") }));
    } catch (err) {
      clear(grid).append(h("p", { role: "alert", text: problemText(err) }));
    }
  }
  showDay();
  const image = place.image;
  return h("section", { class: "space-page" },
    h("p", {}, h("a", { href: "#/book", text: `← ${t("nav.book")}` })),
    h("h1", { class: "long-text", lang: locLang(place.name), text: loc(place.name) }),
    image ? h("img", { class: "space-photo", src: image.src, alt: loc(image.alt || {}) || "" }) : null,
    loc(place.description || {}) ? h("p", { class: "long-text", lang: locLang(place.description), text: loc(place.description) }) : null,
    h("dl", { class: "facts" },
      facts(t("space.address"), place.address ? [h("span", {}, place.address, " · ", mapLink(place.address))] : []),
      facts(t("space.accessibility"), place.accessibility)),
    hoursTable(place.hours),
    h("h2", { text: t("space.spaces") }),
    active.length ? h("div", { class: "grid spaces" }, active.map(spaceCard)) : h("p", { text: t("book.noResources") }),
    h("h2", { text: t("space.day") }),
    h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); return showDay(); } },
      field(t("book.date"), date), h("button", { type: "submit", class: "secondary", text: t("space.showDay") })),
    grid);
}
