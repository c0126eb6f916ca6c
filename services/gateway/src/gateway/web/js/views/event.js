// One event: details, register or cancel, and add to a calendar (.ics).
import { get, post, session, url } from "../api.js";
import { h, field, append } from "../dom.js";
import { t, loc, locLang, fmtDateTime, fmtTime, currentLang } from "../i18n.js";
import { announce, announceProblem, route } from "../app.js";
import { showProblem } from "../problems.js";
import { passBlock } from "../qr.js";
import { rememberReturn } from "./auth.js";

const ACTIVE = ["confirmed", "waitlisted"];

export function registrationText(reg) {
  if (reg.status === "waitlisted") return t("reg.waitlisted", { place: reg.place ?? "?" });
  return t(`reg.${reg.status}`);
}

async function myRegistration(eventId) {
  if (!session.user()) return null;
  const mine = await get("/registrations/mine");
  return mine.items.find((r) => r.event_id === eventId && ACTIVE.includes(r.status)) || null;
}

function registrationPanel(ev, reg) {
  const panel = h("section", { class: "card", "aria-labelledby": "reg-title" });
  panel.append(h("h2", { id: "reg-title", text: t("event.registration") }));
  if (!ev.registration_required) {
    panel.append(h("p", { text: t("event.justCome") }));
    return panel;
  }
  if (ev.status !== "published") {
    panel.append(h("p", { text: t(`status.${ev.status}`) }));
    return panel;
  }
  if (!session.user()) {
    panel.append(
      h("p", {}, h("a", { href: "#/login", onclick: rememberReturn, text: t("event.loginToRegister") })),
    );
    return panel;
  }
  if (reg) {
    append(panel,
      h("p", { class: `reg-status reg-${reg.status}`, text: registrationText(reg) }),
      reg.status === "confirmed" && reg.code
        ? h("p", {}, t("reg.code"), " ", h("strong", { class: "code", text: reg.code }))
        : null,
      reg.status === "confirmed" && reg.checkin_pass && !reg.attended
        ? passBlock(reg.checkin_pass, loc(ev.title), { open: true })
        : null,
      h("button", {
        type: "button",
        class: "secondary",
        text: t("reg.cancel"),
        onclick: async () => {
          if (!window.confirm(t("reg.cancelConfirm", { what: loc(ev.title) }))) return;
          try {
            await post(`/registrations/${reg.id}/cancel`);
            await route();
            announce(t("reg.cancelled"));
          } catch (err) {
            announceProblem(err);
          }
        },
      }),
    );
    return panel;
  }
  const seats = h("input", {
    type: "number", min: 1, max: ev.max_group_size || 10, value: 1, name: "seats",
  });
  const error = h("div", { class: "form-error", role: "alert" });
  const full = ev.capacity != null && ev.seats_free === 0;
  append(panel,
    full ? h("p", { class: "notice", text: t("event.fullWaitlist") }) : null,
    h(
      "form",
      {
        onsubmit: async (e) => {
          e.preventDefault();
          error.textContent = "";
          try {
            // The name shown on the staff's check-in list.
            const me = await get("/me").catch(() => null);
            const made = await post(`/events/${ev.id}/registrations`, {
              seats: Number(seats.value) || 1,
              name: me ? me.display_name : undefined,
            });
            await route();
            announce(registrationText(made));
          } catch (err) {
            showProblem(error, err, { form: e.target });
          }
        },
      },
      field(t("reg.seats"), seats),
      error,
      h("button", {
        type: "submit",
        class: "primary",
        text: full ? t("reg.joinWaitlist") : t("reg.register"),
      }),
    ),
  );
  return panel;
}

const languageName = (code) => {
  try {
    return new Intl.DisplayNames([currentLang()], { type: "language" }).of(code) || code;
  } catch {
    return code;
  }
};

function priceText(price) {
  if (!price || price.free !== false) return t("event.free");
  const amount = new Intl.NumberFormat(currentLang(), { style: "currency", currency: price.currency || "EUR" }).format(price.amount);
  return [amount, loc(price.info)].filter(Boolean).join(" · ");
}

function addressText(venue) {
  const a = venue?.address;
  return a ? [a.street, [a.postal_code, a.city].filter(Boolean).join(" ")].filter(Boolean).join(", ") : "";
}

// "Add to Google / Outlook": their public compose links, filled from the event (opening
// them is the reader's choice; nothing is loaded from those sites by this page).
const compact = (iso) => new Date(iso).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
function calendarLinks(ev, where) {
  const title = loc(ev.title);
  const details = `${loc(ev.description) || ""}\n${location.origin}${location.pathname}#/events/${ev.id}`.trim();
  const google = new URL("https://calendar.google.com/calendar/render");
  google.search = new URLSearchParams({ action: "TEMPLATE", text: title, dates: `${compact(ev.starts_at)}/${compact(ev.ends_at)}`, details, location: where }).toString();
  const outlook = new URL("https://outlook.live.com/calendar/0/deeplink/compose");
  outlook.search = new URLSearchParams({ path: "/calendar/action/compose", rru: "addevent", subject: title, startdt: new Date(ev.starts_at).toISOString(), enddt: new Date(ev.ends_at).toISOString(), body: details, location: where }).toString();
  return [
    h("a", { class: "button secondary", href: google.toString(), rel: "noopener", target: "_blank", text: t("event.addToGoogle") }),
    h("a", { class: "button secondary", href: outlook.toString(), rel: "noopener", target: "_blank", text: t("event.addToOutlook") }),
  ];
}

export async function eventView(id) {
  const [ev, reg] = await Promise.all([get(`/events/${id}`), myRegistration(id)]);
  const venue = ev.venue_id ? await get(`/venues/${encodeURIComponent(ev.venue_id)}`).catch(() => null) : null;
  const where = [loc(ev.venue_name), addressText(venue)].filter(Boolean).join(", ");
  const tz = ev.timezone;
  const sameDay = ev.starts_at.slice(0, 10) === ev.ends_at.slice(0, 10);
  const when = `${fmtDateTime(ev.starts_at, tz)} – ${
    sameDay ? fmtTime(ev.ends_at, tz) : fmtDateTime(ev.ends_at, tz)
  }`;
  const facts = h(
    "dl",
    { class: "facts" },
    h("dt", { text: t("event.when") }),
    h("dd", {}, h("time", { datetime: ev.starts_at, text: when })),
    h("dt", { text: t("event.where") }),
    h("dd", { class: "long-text" }, loc(ev.venue_name) || t("event.noVenue"),
      addressText(venue) ? [h("br"), addressText(venue)] : null,
      venue?.latitude != null
        ? [" ", h("a", { href: `https://www.openstreetmap.org/?mlat=${venue.latitude}&mlon=${venue.longitude}#map=17/${venue.latitude}/${venue.longitude}`, rel: "noopener", target: "_blank", text: t("event.onMap") })]
        : null),
    venue && loc(venue.accessibility) ? [h("dt", { text: t("event.accessibility") }), h("dd", { class: "long-text", text: loc(venue.accessibility) })] : null,
    h("dt", { text: t("event.price") }),
    h("dd", { class: "price", text: priceText(ev.price) }),
    h("dt", { text: t("event.kind") }),
    h("dd", { text: t(`kind.${ev.kind}`) }),
    h("dt", { text: t("event.seats") }),
    h("dd", {
      text:
        ev.capacity == null
          ? t("event.noLimit")
          : `${t("event.seatsFree", { n: ev.seats_free })} / ${ev.capacity}` +
            (ev.waiting ? ` · ${t("event.waiting", { n: ev.waiting })}` : ""),
    }),
    ev.languages?.length ? [h("dt", { text: t("event.languages") }), h("dd", { text: ev.languages.map(languageName).join(", ") })] : null,
    ev.audiences?.length
      ? [h("dt", { text: t("event.audiences") }), h("dd", { text: ev.audiences.map((a) => t(`audience.${a}`)).join(", ") })]
      : null,
    ev.topics?.length
      ? [h("dt", { text: t("event.topics") }), h("dd", { text: ev.topics.map((x) => x.skill).join(", ") })]
      : null,
  );
  const ics = url(`/events/${ev.id}/event.ics`, { lang: currentLang() });
  return h(
    "article",
    { class: "event" },
    h("p", {}, h("a", { href: "#/events", text: `← ${t("nav.events")}` })),
    h("h1", { lang: locLang(ev.title), text: loc(ev.title) }),
    ev.status !== "published" ? h("p", { class: "notice", text: t(`status.${ev.status}`) }) : null,
    facts,
    ev.description && loc(ev.description)
      ? h("p", { class: "description", lang: locLang(ev.description), text: loc(ev.description) })
      : null,
    registrationPanel(ev, reg),
    h(
      "p",
      { class: "row-actions calendar-links" },
      h("a", { class: "button secondary", href: ics, download: `${ev.id}.ics`, text: t("event.addToCalendar") }),
      calendarLinks(ev, where),
    ),
    ev.sub_events?.length
      ? [
          h("h2", { text: t("event.subEvents") }),
          h("ul", {}, ev.sub_events.map((s) => h("li", {}, h("a", { href: `#/events/${s.id}`, text: loc(s.title) })))),
        ]
      : null,
  );
}
