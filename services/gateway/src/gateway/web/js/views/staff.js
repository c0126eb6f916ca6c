// Staff console: events (create, publish, series, check-in lists), bookings (approve or
// deny, the day's bookings per location, blocks) and resources (rules, opening hours).
import { get, getAll, post, put, patch } from "../api.js";
import { h, field, select, clear, append } from "../dom.js";
import { t, loc, locLang, fmtDateTime, fmtTime, fmtDate } from "../i18n.js";
import { announce, announceProblem, problemText, route } from "../app.js";
import { EVENT_KINDS } from "./events.js";
import { RESOURCE_KINDS } from "./book.js";
import { scanTab } from "./scan.js";
import { placeForm, spaceForm } from "./places.js";

const TABS = ["events", "bookings", "resources", "scan"];
const today = () => new Date().toISOString().slice(0, 10);
const withZone = (local) => (local ? new Date(local).toISOString() : null);

function tabs(current) {
  return h("nav", { class: "tabs", "aria-label": t("staff.sections") }, h("ul", {},
    TABS.map((tab) => h("li", {}, h("a", { href: `#/staff/${tab}`, "aria-current": tab === current ? "page" : null, text: t(`staff.tab.${tab}`) })))));
}

function button(label, run, cls = "secondary") {
  return h("button", { type: "button", class: cls, text: label, onclick: async () => {
    try { await run(); } catch (err) { announceProblem(err); }
  } });
}

function card(titleKey, ...content) {
  const id = `staff-${titleKey.replace(/\W/g, "-")}`;
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id, text: t(titleKey) }), content);
}

// ---- events ---------------------------------------------------------------------------

async function eventForm() {
  const venues = await getAll("/venues", { limit: 200 });
  const kind = select(EVENT_KINDS.map((k) => [k, t(`kind.${k}`)]), "workshop", { name: "kind" });
  const titles = Object.fromEntries(["fi", "sv", "en"].map((l) => [l, h("input", { name: `title_${l}`, lang: l, required: l === "fi" })]));
  const description = h("textarea", { name: "description_fi", rows: 3, lang: "fi" });
  const venue = select([["", t("event.noVenue")], ...venues.map((v) => [v.id, loc(v.name)])], "", { name: "venue_id" });
  const starts = h("input", { type: "datetime-local", name: "starts_at", required: true });
  const ends = h("input", { type: "datetime-local", name: "ends_at", required: true });
  const capacity = h("input", { type: "number", name: "capacity", min: 1 });
  const needsReg = h("input", { type: "checkbox", id: "reg-required", checked: true });
  const repeat = h("input", { type: "number", name: "repeat", min: 1, max: 52, value: 1 });
  const error = h("div", { class: "form-error", role: "alert" });
  let publishNow = false;
  const form = h("form", { class: "event-form", onsubmit: async (e) => {
    e.preventDefault();
    error.textContent = "";
    const title = Object.fromEntries(Object.entries(titles).map(([l, el]) => [l, el.value.trim()]).filter(([, v]) => v));
    const body = {
      kind: kind.value, title, starts_at: starts.value, ends_at: ends.value,
      description: description.value.trim() ? { fi: description.value.trim() } : undefined,
      venue_id: venue.value || undefined,
      capacity: capacity.value ? Number(capacity.value) : undefined,
      registration_required: needsReg.checked,
    };
    try {
      const times = Number(repeat.value) || 1;
      let message;
      if (times > 1) {
        const series = await post("/series", { template: body, recurrence: { frequency: "weekly", count: times } });
        if (publishNow) await post(`/series/${series.id}/publish`);
        message = t(publishNow ? "staff.seriesPublished" : "staff.seriesCreated", { n: times });
      } else {
        const made = await post("/events", body);
        if (publishNow) await post(`/events/${made.id}/publish`);
        message = t(publishNow ? "staff.published" : "staff.draftSaved", { title: loc(made.title) });
      }
      await route();
      announce(message); // after the new content is in place
    } catch (err) {
      showProblem(error, err, { form: e.target });
    }
  } },
    field(t("event.kind"), kind),
    ...["fi", "sv", "en"].map((l) => field(t(`staff.title_${l}`), titles[l])),
    field(t("staff.description"), description),
    field(t("event.where"), venue),
    field(t("staff.starts"), starts), field(t("staff.ends"), ends),
    field(t("staff.capacity"), capacity, t("staff.capacityHint")),
    h("div", { class: "check" }, needsReg, h("label", { for: "reg-required", text: t("staff.registrationRequired") })),
    field(t("staff.repeat"), repeat, t("staff.repeatHint")),
    error,
    h("div", { class: "row-actions" },
      h("button", { type: "submit", class: "secondary", text: t("staff.saveDraft"), onclick: () => { publishNow = false; } }),
      h("button", { type: "submit", class: "primary", text: t("staff.publishNow"), onclick: () => { publishNow = true; } })));
  return form;
}

function eventRows(items, draft) {
  if (!items.length) return h("p", { text: t("events.none") });
  return h("ul", { class: "rows" }, items.map((ev) => h("li", { class: "row" },
    h("div", {}, h("a", { href: `#/events/${ev.id}`, lang: locLang(ev.title), text: loc(ev.title) }),
      h("p", { class: "meta", text: `${fmtDateTime(ev.starts_at, ev.timezone)} · ${t(`kind.${ev.kind}`)}` +
        (ev.capacity != null ? ` · ${ev.seats_taken}/${ev.capacity}` + (ev.waiting ? ` (+${ev.waiting})` : "") : "") })),
    h("div", { class: "row-actions" },
      draft
        ? button(t("staff.publish"), async () => { await post(`/events/${ev.id}/publish`); await route(); announce(t("staff.published", { title: loc(ev.title) })); }, "primary")
        : h("a", { class: "button secondary", href: `#/staff/checkin/${ev.id}`, text: t("staff.checkinList") }),
      button(t("staff.cancelEvent"), async () => {
        if (!window.confirm(t("staff.cancelConfirm"))) return;
        await post(`/events/${ev.id}/cancel`, {}); await route(); announce(t("status.cancelled"));
      })))));
}

async function eventsTab() {
  const since = `${today()}T00:00:00`;
  const [drafts, published] = await Promise.all([
    get("/events", { status: "draft", from: since, limit: 50 }),
    get("/events", { status: "published", from: since, limit: 50 }),
  ]);
  return [
    card("staff.newEvent", await eventForm()),
    card("staff.drafts", eventRows(drafts.items, true)),
    card("staff.upcoming", eventRows(published.items, false)),
  ];
}

// ---- bookings -------------------------------------------------------------------------

function bookingLine(b, who) {
  return h("div", {}, h("strong", { lang: locLang(b.resource_name), text: loc(b.resource_name) || b.resource_id }),
    h("p", { class: "meta", text: `${fmtDate(b.starts_at, b.timezone)} ${fmtTime(b.starts_at, b.timezone)}–${fmtTime(b.ends_at, b.timezone)} · ${t(`bstatus.${b.status}`)}` }),
    who ? h("p", { class: "requester" }, `${t("staff.requester")}: `, h("strong", { text: who.display_name }), who.email ? ` (${who.email})` : "", who.phone ? `, ${who.phone}` : "") : null,
    h("p", { class: "party", text: t("staff.party", { n: b.people ?? 1 }) }),
    b.purpose ? h("p", { class: "long-text", text: `${t("staff.purpose")}: ${b.purpose}` }) : null);
}

// Who asked: identity's account of each requester (staff may read their municipality's).
async function requesters(bookings) {
  const ids = [...new Set(bookings.map((b) => `${b.municipality}/${b.user_id}`).filter((k) => !k.endsWith("/null")))];
  const found = await Promise.all(ids.map((key) => {
    const [municipality, id] = key.split("/");
    return get(`/municipalities/${municipality}/users/${id}`).then((u) => [id, u]).catch(() => [id, null]);
  }));
  return Object.fromEntries(found);
}

async function pendingList() {
  // A page (docs/api.md): the first 500 by start; the queue is worked from the top.
  const pending = (await get("/bookings/pending", { limit: 500 })).items;
  if (!pending.length) return h("p", { text: t("staff.noPending") });
  const who = await requesters(pending);
  return h("ul", { class: "rows", id: "pending-bookings" }, pending.map((b) => {
    const reason = h("input", { name: "reason", maxlength: 500 });
    return h("li", { class: "row" }, bookingLine(b, who[b.user_id]), h("div", { class: "row-actions" },
      button(t("staff.approve"), async () => { await post(`/bookings/${b.id}/approve`); await route(); announce(t("staff.approved")); }, "primary"),
      field(t("staff.denyReason"), reason),
      button(t("staff.deny"), async () => { await post(`/bookings/${b.id}/deny`, { reason: reason.value.trim() || null }); await route(); announce(t("staff.denied")); })));
  }));
}

async function dayView(locations) {
  const location = select(locations.map((l) => [l.id, loc(l.name)]), locations[0]?.id, { name: "location" });
  const date = h("input", { type: "date", name: "date", value: today() });
  const out = h("div", { "aria-live": "polite" });
  async function show() {
    try {
      const day = await get(`/locations/${location.value}/day`, { date: date.value });
      append(clear(out),
        day.bookings.length ? h("ul", { class: "rows", id: "day-bookings" }, day.bookings.map((b) => h("li", { class: "row" }, bookingLine(b)))) : h("p", { text: t("staff.noBookingsDay") }),
        day.blocks.length ? [h("h3", { text: t("staff.blocks") }), h("ul", { class: "rows" }, day.blocks.map((b) => h("li", { class: "row", text: `${fmtTime(b.starts_at)}–${fmtTime(b.ends_at)} ${b.reason || ""}` })))] : null);
    } catch (err) { clear(out).append(h("p", { role: "alert", text: problemText(err) })); }
  }
  show();
  return h("div", {}, h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); show(); } },
    field(t("book.location"), location), field(t("book.date"), date),
    h("button", { type: "submit", class: "primary", text: t("staff.showDay") })), out);
}

async function blockForm(resources) {
  const resource = select(resources.map((r) => [r.id, loc(r.name)]), resources[0]?.id, { name: "resource" });
  const starts = h("input", { type: "datetime-local", name: "starts_at", required: true });
  const ends = h("input", { type: "datetime-local", name: "ends_at", required: true });
  const reason = h("input", { name: "reason", maxlength: 500 });
  const onConflict = select([["refuse", t("staff.conflictRefuse")], ["cancel", t("staff.conflictCancel")]], "refuse", { name: "on_conflict" });
  return h("form", { onsubmit: async (e) => {
    e.preventDefault();
    try {
      await post(`/resources/${resource.value}/blocks`, { starts_at: withZone(starts.value), ends_at: withZone(ends.value), reason: reason.value.trim() || null, on_conflict: onConflict.value });
      announce(t("staff.blocked"));
    } catch (err) { announceProblem(err, e.target); }
  } },
    field(t("staff.resource"), resource), field(t("staff.starts"), starts), field(t("staff.ends"), ends),
    field(t("staff.reason"), reason), field(t("staff.onConflict"), onConflict),
    h("button", { type: "submit", class: "primary", text: t("staff.block") }));
}

async function bookingsTab() {
  const [locations, resources] = await Promise.all([getAll("/locations"), getAll("/resources")]);
  return [
    card("staff.pending", await pendingList()),
    card("staff.day", await dayView(locations)),
    card("staff.blockResource", await blockForm(resources)),
  ];
}

// ---- resources and opening hours -----------------------------------------------------------

function resourceRow(r) {
  const slot = h("input", { type: "number", min: 5, max: 1440, value: r.rules.slot_minutes, name: "slot_minutes" });
  const approval = h("input", { type: "checkbox", id: `appr-${r.id}`, checked: r.rules.approval_required });
  return h("li", { class: "row" },
    h("div", {}, h("strong", { lang: locLang(r.name), text: loc(r.name) }),
      h("p", { class: "meta", text: `${t(`rkind.${r.kind}`)} · ${r.active ? t("staff.active") : t("staff.inactive")}` })),
    h("form", { class: "inline", onsubmit: async (e) => {
      e.preventDefault();
      try {
        const minutes = Number(slot.value);
        await patch(`/resources/${r.id}`, { rules: { ...r.rules, slot_minutes: minutes, min_minutes: Math.max(minutes, Math.min(r.rules.min_minutes, r.rules.max_minutes)), approval_required: approval.checked } });
        announce(t("saved"));
      } catch (err) { announceProblem(err, e.target); }
    } },
      field(t("staff.slotMinutes"), slot),
      h("div", { class: "check" }, approval, h("label", { for: approval.id, text: t("staff.approvalRequired") })),
      h("button", { type: "submit", class: "secondary", text: t("save") }),
      button(r.active ? t("staff.deactivate") : t("staff.activate"), async () => { await patch(`/resources/${r.id}`, { active: !r.active }); await route(); })));
}

function newResourceForm(locations) {
  const location = select(locations.map((l) => [l.id, loc(l.name)]), locations[0]?.id, { name: "location_id" });
  const kind = select(RESOURCE_KINDS.map((k) => [k, t(`rkind.${k}`)]), "workstation", { name: "kind" });
  const nameFi = h("input", { name: "name_fi", lang: "fi", required: true });
  const nameEn = h("input", { name: "name_en", lang: "en" });
  const capacity = h("input", { type: "number", name: "capacity", min: 1, value: 1 });
  return h("form", { onsubmit: async (e) => {
    e.preventDefault();
    try {
      const name = { fi: nameFi.value.trim() };
      if (nameEn.value.trim()) name.en = nameEn.value.trim();
      await post("/resources", { location_id: location.value, kind: kind.value, name, capacity: Number(capacity.value) || 1 });
      await route();
      announce(t("saved"));
    } catch (err) { announceProblem(err, e.target); }
  } },
    field(t("book.location"), location), field(t("book.kind"), kind),
    field(t("staff.name_fi"), nameFi), field(t("staff.name_en"), nameEn), field(t("staff.capacity"), capacity),
    h("button", { type: "submit", class: "primary", text: t("staff.addResource") }));
}

function hoursForm(locations) {
  const location = select(locations.map((l) => [l.id, loc(l.name)]), locations[0]?.id, { name: "location" });
  const days = h("div");
  const names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
  function fill() {
    const current = locations.find((l) => l.id === location.value);
    const weekly = current?.hours?.weekly || {};
    clear(days).append(h("table", { class: "hours" },
      h("caption", { text: t("staff.weeklyHours") }),
      h("thead", {}, h("tr", {}, h("th", { scope: "col", text: t("staff.weekday") }), h("th", { scope: "col", text: t("staff.opens") }), h("th", { scope: "col", text: t("staff.closes") }))),
      h("tbody", {}, names.map((n, i) => {
        const period = (weekly[i] || weekly[String(i)] || [])[0];
        return h("tr", {}, h("th", { scope: "row", text: t(`day.${n}`) }),
          h("td", {}, h("input", { type: "time", name: `opens-${i}`, "aria-label": `${t(`day.${n}`)} ${t("staff.opens")}`, value: period ? period.opens.slice(0, 5) : "" })),
          h("td", {}, h("input", { type: "time", name: `closes-${i}`, "aria-label": `${t(`day.${n}`)} ${t("staff.closes")}`, value: period ? period.closes.slice(0, 5) : "" })));
      }))));
  }
  location.addEventListener("change", fill);
  fill();
  return h("form", { onsubmit: async (e) => {
    e.preventDefault();
    const weekly = {};
    names.forEach((_, i) => {
      const opens = days.querySelector(`[name=opens-${i}]`).value;
      const closes = days.querySelector(`[name=closes-${i}]`).value;
      if (opens && closes) weekly[i] = [{ opens, closes }];
    });
    const current = locations.find((l) => l.id === location.value);
    try {
      await put(`/locations/${location.value}/hours`, { hours: { weekly, exceptions: current?.hours?.exceptions || [] } });
      announce(t("saved"));
    } catch (err) { announceProblem(err, e.target); }
  } }, field(t("book.location"), location), days, h("p", { class: "hint", text: t("staff.closedHint") }),
    h("button", { type: "submit", class: "primary", text: t("save") }));
}

async function resourcesTab() {
  const [locations, resources] = await Promise.all([getAll("/locations"), getAll("/resources")]);
  return [
    card("staff.resources", resources.length ? h("ul", { class: "rows" }, resources.map(resourceRow)) : h("p", { text: t("book.noResources") })),
    card("staff.newResource", newResourceForm(locations)),
    card("staff.hours", hoursForm(locations)),
    card("places.placeTitle", await placeForm(locations)),
    card("places.spaceTitle", await spaceForm(resources)),
  ];
}

export async function staffView(tab, params = {}) {
  const build = { events: eventsTab, bookings: bookingsTab, resources: resourcesTab, scan: scanTab }[tab] || eventsTab;
  return h("section", { class: "staff" }, h("h1", { text: t("nav.staff") }), tabs(tab), await build(params));
}
