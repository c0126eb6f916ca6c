// Residents: find a free slot of a workstation, room, studio, equipment or mentor hours,
// and book it. Every path ends in a booking or a next step: a closed day names the next
// open day, taken times are shown as taken, an age limit asks for the birth date.
import { get, getAll, post, put, session, renewSession } from "../api.js";
import { h, field, select, clear, append } from "../dom.js";
import { t, loc, locLang, fmtTime, fmtDate } from "../i18n.js";
import { announce, problemText } from "../app.js";
import { showProblem, problemKind } from "../problems.js";
import { passBlock } from "../qr.js";
import { rememberReturn } from "./auth.js";

export const RESOURCE_KINDS = ["workstation", "meeting_room", "studio", "equipment", "mentor_hours"];

function today() {
  return new Date().toISOString().slice(0, 10);
}

// Durations that fit: whole slots from the minimum up to the maximum, while consecutive
// slots are free.
function durations(resource, slots, index) {
  const rules = resource.rules;
  const step = rules.slot_minutes;
  const out = [];
  let minutes = 0;
  for (let i = index; i < slots.length; i++) {
    if (slots[i].taken || (i > index && slots[i].starts_at !== slots[i - 1].ends_at)) break;
    minutes += step;
    if (minutes > rules.max_minutes) break;
    if (minutes >= rules.min_minutes) out.push([minutes, slots[i].ends_at]);
  }
  return out;
}

// An age limit needs a birth date in the token; without one the form asks for it.
function birthdateField(resource) {
  const age = resource.rules.min_age;
  if (age == null || session.claims()?.birthdate) return null;
  const input = h("input", { type: "date", name: "birthdate", required: true, max: today(), min: "1900-01-01" });
  return field(t("book.birthdate"), input, t("book.birthdateHint", { age }));
}

async function giveBirthdate(form) {
  const input = form.querySelector("[name=birthdate]");
  if (!input) return;
  await put("/me/birthdate", { birthdate: input.value });
  await renewSession(); // the new access token carries the birth date
}

function bookingForm(resource, slots, index, tz, area) {
  const slot = slots[index];
  const options = durations(resource, slots, index);
  clear(area);
  if (!options.length) {
    area.append(h("p", { role: "alert", text: t("book.tooShort") }));
    return;
  }
  const length = select(
    options.map(([m, end]) => [end, `${m} min (${fmtTime(slot.starts_at, tz)}–${fmtTime(end, tz)})`]),
    options[0][1],
    { name: "duration" },
  );
  const purpose = h("input", { name: "purpose", maxlength: 500 });
  const people = h("input", { type: "number", name: "people", min: 1, max: resource.capacity, value: 1 });
  const error = h("div", { class: "form-error", role: "alert" });
  const form = h(
    "form",
    {
      class: "card booking-form",
      "aria-label": t("book.confirmTitle"),
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = "";
        try {
          await giveBirthdate(e.target);
          const made = await post("/bookings", {
            resource_id: resource.id,
            starts_at: slot.starts_at,
            ends_at: length.value,
            people: Number(people.value) || 1,
            purpose: purpose.value.trim() || null,
          });
          clear(area).append(
            h(
              "div",
              { class: "card success", role: "status", tabindex: "-1" },
              h("p", {
                text: t(made.status === "pending" ? "book.pending" : "book.confirmed", {
                  what: loc(resource.name),
                  when: `${fmtDate(made.starts_at, tz)} ${fmtTime(made.starts_at, tz)}–${fmtTime(made.ends_at, tz)}`,
                }),
              }),
              made.access_code ? h("p", {}, t("book.code"), " ", h("strong", { text: made.access_code })) : null,
              made.status === "confirmed" && made.checkin_pass ? passBlock(made.checkin_pass, loc(resource.name), { open: true }) : null,
              h("p", {}, h("a", { href: "#/me", text: t("book.seeMine") })),
            ),
          );
          area.firstChild.focus();
          announce(t("book.done"));
          // The time is no longer free: shown as taken at once, without a new search.
          for (let i = index; i < slots.length && slots[i].starts_at < made.ends_at; i++) slots[i].taken = true;
          markTaken(area.closest(".results") || document, resource.id, Date.parse(made.starts_at), Date.parse(made.ends_at), tz);
        } catch (err) {
          showProblem(error, err, { form: e.target });
          if (problemKind(err) === "booking-conflict") {
            // Someone was quicker: what is on screen is stale, so it is read again.
            area.dispatchEvent(new CustomEvent("kohtaamo:stale", { bubbles: true, detail: { message: problemText(err) } }));
          }
          if (problemKind(err) === "birthdate-needed" && !e.target.querySelector("[name=birthdate]")) {
            error.before(birthdateField({ rules: { min_age: err.problem.min_age } }));
          }
        }
      },
    },
    h("h3", { class: "long-text", text: `${loc(resource.name)}: ${fmtDate(slot.starts_at, tz)} ${fmtTime(slot.starts_at, tz)}` }),
    field(t("book.duration"), length),
    resource.capacity > 1 ? field(t("book.people"), people) : null,
    field(t("book.purpose"), purpose),
    birthdateField(resource),
    resource.rules.approval_required ? h("p", { class: "hint", text: t("book.needsApproval") }) : null,
    error,
    h("button", { type: "submit", class: "primary", text: t("book.confirm") }),
  );
  area.append(form);
  form.querySelector("select").focus();
}

function loanForm(resource, day, area) {
  clear(area);
  const error = h("div", { class: "form-error", role: "alert" });
  area.append(
    h(
      "form",
      {
        class: "card booking-form",
        onsubmit: async (e) => {
          e.preventDefault();
          try {
            await giveBirthdate(e.target);
            const made = await post("/bookings", { resource_id: resource.id, start_date: day, end_date: day });
            clear(area).append(h("p", { class: "card success", role: "status", text: t(made.status === "pending" ? "book.pending" : "book.confirmed", { what: loc(resource.name), when: day }) }));
            announce(t("book.done"));
            const button = area.closest("section")?.querySelector(`button[data-day="${day}"]`);
            if (button) button.replaceWith(h("span", { class: "slot taken", text: day }, h("span", { class: "slot-state", text: t("book.taken") })));
          } catch (err) {
            showProblem(error, err, { form: e.target });
            if (problemKind(err) === "booking-conflict") {
              area.dispatchEvent(new CustomEvent("kohtaamo:stale", { bubbles: true, detail: { message: problemText(err) } }));
            }
          }
        },
      },
      h("h3", { class: "long-text", text: `${loc(resource.name)}: ${day}` }),
      birthdateField(resource),
      error,
      h("button", { type: "submit", class: "primary", text: t("book.confirm") }),
    ),
  );
}

// Every start time of the open periods on the resource's slot grid: free ones can be
// chosen, the others are shown as taken (past times are left out).
function slotGrid(resource, entry) {
  const step = resource.rules.slot_minutes * 60000;
  const free = new Map((entry.slots || []).map((s, i) => [Date.parse(s.starts_at), i]));
  const now = Date.now();
  const out = [];
  for (const period of entry.open || []) {
    const end = Date.parse(period.ends_at);
    for (let at = Date.parse(period.starts_at); at + step <= end; at += step) {
      if (free.has(at)) out.push({ at, index: free.get(at) });
      else if (at > now) out.push({ at, index: null });
    }
  }
  // Free slots off the grid (none expected) are still offered.
  for (const [at, index] of free) if (!out.some((s) => s.at === at)) out.push({ at, index });
  return out.sort((a, b) => a.at - b.at);
}

const takenSlot = (time) =>
  h("span", { class: "slot taken", "aria-label": t("book.takenLabel", { time }) }, time, h("span", { class: "slot-state", "aria-hidden": "true", text: t("book.taken") }));

// A booking just made: its times in the slot list and the day grid become taken.
function markTaken(root, resourceId, from, to, tz) {
  for (const el of root.querySelectorAll(`[data-resource="${CSS.escape(resourceId)}"][data-at]`)) {
    const at = Number(el.dataset.at);
    if (at < from || at >= to) continue;
    if (el.closest("td")) {
      const cell = el.closest("td");
      cell.className = "grid-taken";
      cell.textContent = t("book.taken");
    } else {
      el.replaceWith(takenSlot(fmtTime(new Date(at).toISOString(), tz)));
    }
  }
}

function closedNote(entry, showDay) {
  const next = entry.next_open_day;
  return h("p", { class: "notice closed" }, t("book.closed"), " ",
    next ? h("button", { type: "button", class: "link-button", text: t("book.nextOpen", { day: fmtDate(`${next}T12:00:00`) }), onclick: () => showDay(next) }) : t("book.noOpenDays"));
}

function timedSlots(resource, entry, tz, area, showDay) {
  const name = loc(resource.name);
  if (!(entry.open || []).length && !(entry.slots || []).length) return closedNote(entry, showDay);
  const slots = entry.slots || [];
  const grid = slotGrid(resource, entry);
  if (!grid.length) return h("p", { text: t("book.noSlots") });
  return h("div", {},
    slots.length ? null : h("p", { class: "notice", text: t("book.allTaken") }),
    h("ul", { class: "slots", "aria-label": t("book.freeSlots", { name }) },
      grid.map((s) => {
        const time = fmtTime(new Date(s.at).toISOString(), tz);
        return s.index === null
          ? h("li", {}, takenSlot(time))
          : h("li", {}, h("button", {
              type: "button",
              class: "slot",
              "data-resource": resource.id,
              "data-at": String(s.at),
              "aria-label": t("book.slotLabel", { time: `${time}–${fmtTime(slots[s.index].ends_at, tz)}`, name }),
              text: time,
              onclick: () => bookingForm(resource, slots, s.index, tz, area),
            }));
      })));
}

// LibCal-like: the day's times across the location's resources, free ones to choose
// (on the booking page from two resources on; a place's page shows it for one too).
export function dayGrid(entries, byId, tz, openers, { min = 2 } = {}) {
  const rows = entries
    .filter((e) => !e.days && (e.open || []).length)
    .map((e) => [e, slotGrid(byId[e.resource_id], e)]);
  if (rows.length < min) return null;
  const times = [...new Set(rows.flatMap(([, grid]) => grid.map((s) => s.at)))].sort((a, b) => a - b);
  if (!times.length) return null;
  const when = (at) => fmtTime(new Date(at).toISOString(), tz);
  return h("div", { class: "table-scroll day-grid" }, h("table", {},
    h("caption", { text: t("book.grid") }),
    h("thead", {}, h("tr", {}, h("th", { scope: "col", text: t("book.resource") }), times.map((at) => h("th", { scope: "col", text: when(at) })))),
    h("tbody", {}, rows.map(([e, grid]) => {
      const resource = byId[e.resource_id];
      const cells = new Map(grid.map((s) => [s.at, s]));
      return h("tr", {}, h("th", { scope: "row", class: "long-text", title: loc(resource.name), text: loc(resource.name) }),
        times.map((at) => {
          const s = cells.get(at);
          if (!s) return h("td", { class: "grid-none" }, h("span", { "aria-hidden": "true", text: "–" }), h("span", { class: "visually-hidden", text: t("book.notOffered") }));
          if (s.index === null) return h("td", { class: "grid-taken", text: t("book.taken") });
          return h("td", {}, h("button", {
            type: "button", class: "slot grid-free", text: t("book.free"),
            "data-resource": resource.id, "data-at": String(at),
            // The visible word first, so speech input ("click free") finds it too.
            "aria-label": `${t("book.free")}: ${when(at)}, ${loc(resource.name)}`,
            onclick: () => openers[e.resource_id](s.index),
          }));
        }));
    }))));
}

function resourceBlock(resource, entry, tz, showDay, openers = {}) {
  const area = h("div", { class: "booking-area" });
  const titleId = `res-${resource.id}`;
  const block = h(
    "section",
    { class: "card resource", "aria-labelledby": titleId },
    h("h2", { id: titleId, class: "long-text", title: loc(resource.name), lang: locLang(resource.name), text: loc(resource.name) }),
    h("p", { class: "meta" }, h("span", { class: "tag", text: t(`rkind.${resource.kind}`) }),
      resource.capacity > 1 ? ` · ${t("book.capacity", { n: resource.capacity })}` : "",
      resource.rules.min_age != null ? ` · ${t("book.ageLimit", { age: resource.rules.min_age })}` : "",
      resource.equipment?.length ? ` · ${resource.equipment.join(", ")}` : ""),
    resource.description && loc(resource.description) ? h("p", { class: "long-text", text: loc(resource.description) }) : null,
  );
  if (entry.days) {
    const free = entry.days.filter((d) => d.free !== false).map((d) => d.day || d);
    block.append(
      free.length
        ? h("ul", { class: "slots", "aria-label": t("book.freeDays") },
            free.map((d) => h("li", {}, h("button", { type: "button", class: "slot", "data-day": String(d), text: String(d), onclick: () => loanForm(resource, String(d), area) }))))
        : entry.next_open_day ? closedNote(entry, showDay) : h("p", { text: t("book.noSlots") }),
    );
  } else {
    block.append(timedSlots(resource, entry, tz, area, showDay));
    openers[resource.id] = (index) => {
      bookingForm(resource, entry.slots || [], index, tz, area);
      block.scrollIntoView({ block: "start" });
    };
  }
  block.append(area);
  return block;
}

export async function bookView(params = {}) {
  const intro = h("h1", { text: t("book.title") });
  if (!session.user()) {
    return h("section", {}, intro, h("p", {}, h("a", { href: "#/login", onclick: rememberReturn, text: t("book.loginFirst") })));
  }
  const [locations, chosen] = await Promise.all([
    getAll("/locations"),
    params.resource ? get(`/resources/${encodeURIComponent(params.resource)}`) : null,
  ]);
  if (!locations.length) return h("section", {}, intro, h("p", { text: t("book.noLocations") }));
  const saved = JSON.parse(sessionStorage.getItem("kohtaamo.bookFilters") || "{}");
  const start = chosen ? { location: chosen.location_id, kind: chosen.kind } : saved;
  const location = select(locations.map((l) => [l.id, loc(l.name)]), start.location || locations[0].id, { name: "location" });
  const kind = select(RESOURCE_KINDS.map((k) => [k, t(`rkind.${k}`)]), start.kind || "workstation", { name: "kind" });
  const date = h("input", { type: "date", name: "date", value: saved.date && saved.date >= today() ? saved.date : today(), min: today() });
  const results = h("div", { class: "results", "aria-live": "polite" });
  let only = chosen ? chosen.id : null; // from a mentor's card: that resource only

  let searches = 0;
  // `notice`: why the times were read again (someone booked the chosen one first).
  async function search(notice = null) {
    const ticket = ++searches; // only the latest search may render
    sessionStorage.setItem("kohtaamo.bookFilters", JSON.stringify({ location: location.value, kind: kind.value, date: date.value }));
    clear(results).append(h("p", { class: "loading", text: t("loading") }));
    try {
      const [avail, resources] = await Promise.all([
        get(`/locations/${location.value}/availability`, { from: date.value, to: date.value, kind: kind.value }),
        getAll("/resources", { location_id: location.value, kind: kind.value }),
      ]);
      if (ticket !== searches) return;
      const byId = Object.fromEntries(resources.map((r) => [r.id, r]));
      const showDay = (day) => { date.value = day; search(); };
      const shown = avail.resources.filter((e) => byId[e.resource_id] && (!only || e.resource_id === only));
      const openers = {};
      const blocks = shown.map((e) => resourceBlock(byId[e.resource_id], e, avail.timezone, showDay, openers));
      const stale = notice ? h("p", { class: "notice stale form-error", role: "alert", tabindex: "-1", text: notice }) : null;
      append(clear(results),
        h("h2", { class: "visually-hidden", text: t("book.results") }),
        stale,
        dayGrid(shown, byId, avail.timezone, openers),
        blocks.length ? blocks : h("p", { text: t("book.noResources") }),
      );
      stale?.focus();
    } catch (err) {
      if (ticket !== searches) return;
      clear(results).append(h("p", { role: "alert", text: problemText(err) }));
    }
  }

  // The chosen place's own page: photo, address, hours, each space's details.
  const about = h("a", { class: "about-place", href: `#/spaces/${encodeURIComponent(location.value)}`, text: t("space.about") });
  location.addEventListener("change", () => about.setAttribute("href", `#/spaces/${encodeURIComponent(location.value)}`));
  const form = h(
    "form",
    { class: "filters", onsubmit: (e) => { e.preventDefault(); only = null; search(); } },
    field(t("book.location"), location),
    field(t("book.kind"), kind),
    field(t("book.date"), date),
    h("button", { type: "submit", class: "primary", text: t("book.search") }),
  );
  results.addEventListener("kohtaamo:stale", (e) => search(e.detail.message));
  search();
  return h("section", {}, intro, h("p", { text: t("book.intro") }), form, h("p", {}, about), results);
}
