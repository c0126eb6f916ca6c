// My page: registrations, bookings, inbox, account, profile and skills, mentor offer,
// consents, calendar feed, data download and deleting the account.
import { get, getAll, post, put, patch, del, session, download } from "../api.js";
import { h, field, select, clear } from "../dom.js";
import { t, loc, locLang, fmtDateTime, fmtTime, fmtDate } from "../i18n.js";
import { announce, announceProblem, problemText, route, navigate } from "../app.js";
import { registrationText } from "./event.js";
import { sessionEnded, rememberReturn } from "../problems.js";
import { passBlock } from "../qr.js";
import { cityLabel, cityProviders, startCityLogin } from "./account.js";

// An unverified email offers a new link; a municipality with a city login offers linking.
async function accountExtras(me) {
  const out = [];
  if (!me.email_verified) {
    out.push(h("p", {}, t("verify.unverified"), " ",
      action(t("verify.send"), async () => {
        await post("/me/email/verification");
        announce(t("verify.sent"));
      })));
  }
  const provider = (await cityProviders()).find((p) => p.municipality === me.municipality);
  if (provider && !me.city_login) {
    out.push(h("p", {}, action(t("city.link", { name: cityLabel(provider, me.municipality) }),
      () => startCityLogin(me.municipality, { link: true }))));
  }
  return out;
}

// A part of the page that failed shows why, and the rest still works.
async function part(titleKey, build) {
  const id = `me-${titleKey.replace(/\W/g, "-")}`;
  const box = h("section", { class: "card", "aria-labelledby": id }, h("h2", { id, text: t(titleKey) }));
  try {
    box.append(await build());
  } catch (err) {
    if (sessionEnded(err)) throw err; // one sign-in prompt for the page, not one per part
    box.append(h("p", { class: "form-error", text: problemText(err) }));
  }
  return box;
}

function action(label, run, cls = "secondary") {
  return h("button", {
    type: "button",
    class: cls,
    text: label,
    onclick: async () => {
      try {
        await run();
      } catch (err) {
        announceProblem(err);
      }
    },
  });
}

async function registrations() {
  const mine = await get("/registrations/mine");
  const active = mine.items.filter((r) => r.status !== "cancelled").slice(0, 30);
  if (!active.length) return h("p", {}, t("me.noRegistrations"), " ", h("a", { href: "#/events", text: t("nav.events") }));
  const events = await Promise.all(active.map((r) => get(`/events/${r.event_id}`).catch(() => null)));
  return h("ul", { class: "rows", id: "my-registrations" }, active.map((r, i) => {
    const ev = events[i];
    return h("li", { class: `row reg-${r.status}` },
      h("div", {},
        h("a", { href: `#/events/${r.event_id}`, lang: ev ? locLang(ev.title) : null, text: ev ? loc(ev.title) : r.event_id }),
        ev ? h("p", { class: "meta", text: fmtDateTime(ev.starts_at, ev.timezone) }) : null,
        h("p", { class: "reg-status", text: registrationText(r) }),
        r.status === "confirmed" && r.code ? h("p", {}, t("reg.code"), " ", h("strong", { class: "code", text: r.code })) : null,
        r.status === "confirmed" && r.checkin_pass && !r.attended ? passBlock(r.checkin_pass, ev ? loc(ev.title) : r.event_id) : null),
      r.status === "confirmed" || r.status === "waitlisted"
        ? action(t("reg.cancel"), async () => { if (!window.confirm(t("reg.cancelConfirm", { what: ev ? loc(ev.title) : "" }))) return; await post(`/registrations/${r.id}/cancel`); await route(); announce(t("reg.cancelled")); })
        : null);
  }));
}

async function bookings() {
  const mine = await getAll("/bookings/mine");
  const current = mine.filter((b) => !["cancelled", "denied"].includes(b.status));
  if (!current.length) return h("p", {}, t("me.noBookings"), " ", h("a", { href: "#/book", text: t("nav.book") }));
  return h("ul", { class: "rows", id: "my-bookings" }, current.map((b) =>
    h("li", { class: `row booking-${b.status}` },
      h("div", {},
        h("strong", { lang: locLang(b.resource_name), text: loc(b.resource_name) || b.resource_id }),
        h("p", { class: "meta", text: `${fmtDate(b.starts_at, b.timezone)} ${fmtTime(b.starts_at, b.timezone)}–${fmtTime(b.ends_at, b.timezone)}` }),
        h("p", { class: "booking-status", text: t(`bstatus.${b.status}`) }),
        b.access_code ? h("p", {}, t("book.code"), " ", h("strong", { text: b.access_code })) : null,
        b.status === "confirmed" && b.checkin_pass ? passBlock(b.checkin_pass, loc(b.resource_name)) : null),
      h("div", { class: "row-actions" },
        b.status === "confirmed" && !b.checked_in_at
          ? action(t("me.checkIn"), async () => { await post(`/bookings/${b.id}/check-in`); await route(); announce(t("me.checkedIn")); })
          : null,
        ["confirmed", "pending"].includes(b.status)
          ? action(t("me.cancelBooking"), async () => { if (!window.confirm(t("me.cancelBookingConfirm", { what: loc(b.resource_name) || "" }))) return; await post(`/bookings/${b.id}/cancel`, {}); await route(); announce(t("me.bookingCancelled")); })
          : null))));
}

async function inbox() {
  const page = await get("/notifications/inbox", { limit: 20 });
  if (!page.items.length) return h("p", { text: t("me.inboxEmpty") });
  return h("div", {},
    h("p", { text: t("me.unread", { n: page.unread }) }),
    h("ul", { class: "rows" }, page.items.map((n) =>
      h("li", { class: n.read ? "row" : "row unread" },
        h("div", {}, h("strong", { text: n.subject }), h("p", { text: n.text }),
          h("p", { class: "meta", text: fmtDateTime(n.created) })),
        n.read ? null : action(t("me.markRead"), async () => { await post(`/notifications/inbox/${n.id}/read`); await route(); })))),
    page.unread ? action(t("me.markAllRead"), async () => { await post("/notifications/inbox/read-all"); await route(); }) : null);
}

async function account() {
  const me = await get("/me");
  const name = h("input", { name: "display_name", value: me.display_name, autocomplete: "name" });
  const phone = h("input", { name: "phone", type: "tel", value: me.phone || "", autocomplete: "tel" });
  const language = select([["fi", "Suomi"], ["sv", "Svenska"], ["en", "English"]], me.language, { name: "language" });
  return h("form", {
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        await patch("/me/contact", { display_name: name.value.trim(), phone: phone.value.trim() || null, language: language.value });
        announce(t("saved"));
      } catch (err) { announceProblem(err, e.target); }
    } },
    h("p", {}, t("field.email"), ": ", h("strong", { text: me.email })),
    ...(await accountExtras(me)),
    h("p", {}, t("me.roles"), ": ", me.roles.join(", ")),
    field(t("field.name"), name), field(t("field.phone"), phone), field(t("me.noticeLanguage"), language),
    h("button", { type: "submit", class: "primary", text: t("save") }));
}

const skillsText = (list) => (list || []).map((s) => s.skill || s).join(", ");
const skillsOf = (text) => text.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean).map((skill) => ({ skill }));

async function profile() {
  const p = await get("/me/profile");
  const skills = h("input", { name: "skills", value: skillsText(p.skills) });
  const wants = h("input", { name: "wants", value: skillsText(p.wants) });
  const languages = h("input", { name: "languages", value: (p.languages || []).join(", ") });
  const visibility = select(["private", "municipality", "public"].map((v) => [v, t(`visibility.${v}`)]), p.visibility, { name: "visibility" });
  return h("form", {
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        await put("/me/profile", {
          skills: skillsOf(skills.value), wants: skillsOf(wants.value),
          languages: languages.value.split(",").map((s) => s.trim()).filter(Boolean),
          interests: p.interests || [], visibility: visibility.value,
        });
        announce(t("saved"));
      } catch (err) { announceProblem(err, e.target); }
    } },
    field(t("me.skills"), skills, t("me.commaHint")), field(t("me.wants"), wants, t("me.commaHint")),
    field(t("me.languages"), languages, t("me.languagesHint")), field(t("me.visibility"), visibility),
    h("button", { type: "submit", class: "primary", text: t("save") }));
}

async function mentorOffer() {
  const kind = select([["peer_mentor", t("mentor.peer")], ["professional", t("mentor.professional")]], "peer_mentor", { name: "kind" });
  const topics = h("input", { name: "topics", required: true });
  const languages = h("input", { name: "languages", value: "fi", required: true });
  const bio = h("textarea", { name: "bio", rows: 3, maxlength: 1000 });
  return h("form", {
    onsubmit: async (e) => {
      e.preventDefault();
      try {
        await put("/me/mentor-offer", { kind: kind.value, topics: skillsOf(topics.value),
          languages: languages.value.split(",").map((s) => s.trim()).filter(Boolean), bio: bio.value });
        announce(t("mentor.published"));
      } catch (err) { announceProblem(err, e.target); }
    } },
    h("p", { text: t("mentor.intro") }),
    field(t("mentor.kind"), kind), field(t("mentor.topics"), topics, t("me.commaHint")),
    field(t("me.languages"), languages, t("me.languagesHint")), field(t("mentor.bio"), bio),
    h("div", { class: "row-actions" },
      h("button", { type: "submit", class: "primary", text: t("mentor.publish") }),
      action(t("mentor.withdraw"), async () => { await del("/me/mentor-offer"); announce(t("mentor.withdrawn")); })));
}

async function consents() {
  const given = await getAll("/me/consents");
  const byPurpose = Object.fromEntries(given.map((c) => [c.purpose, c.granted]));
  return h("fieldset", {}, h("legend", { text: t("consent.legend") }),
    ["marketing", "esf_statistics", "esf_sensitive"].map((purpose) => {
      const box = h("input", { type: "checkbox", id: `consent-${purpose}`, checked: !!byPurpose[purpose],
        onchange: async (e) => {
          try { await put(`/me/consents/${purpose}`, { granted: e.target.checked }); announce(t("saved")); }
          catch (err) { e.target.checked = !e.target.checked; announceProblem(err); }
        } });
      return h("div", { class: "check" }, box, h("label", { for: box.id, text: t(`consent.${purpose}`) }));
    }));
}

// Calendar programs subscribe to the feed by its address; Google's and Outlook's web
// calendars take it through their own "add by URL" pages, others by the webcal: scheme.
function subscribeLinks(url) {
  const webcal = url.replace(/^https?:/, "webcal:");
  const google = new URL("https://calendar.google.com/calendar/render");
  google.search = new URLSearchParams({ cid: webcal }).toString();
  const outlook = new URL("https://outlook.live.com/calendar/0/addfromweb");
  outlook.search = new URLSearchParams({ url, name: "Kohtaamo" }).toString();
  return h("div", { class: "row-actions feed-links" },
    h("a", { class: "button secondary", href: google.toString(), rel: "noopener", target: "_blank", text: t("feed.google") }),
    h("a", { class: "button secondary", href: outlook.toString(), rel: "noopener", target: "_blank", text: t("feed.outlook") }),
    h("a", { class: "button secondary", href: webcal, text: t("feed.webcal") }));
}

async function feed() {
  const out = h("div");
  return h("div", {}, h("p", { text: t("feed.intro") }),
    action(t("feed.make"), async () => {
      const made = await post("/me/feed");
      const address = h("input", { readonly: true, value: made.url, name: "feed_url" });
      clear(out).append(field(t("feed.url"), address),
        action(t("feed.copy"), async () => {
          try {
            await navigator.clipboard.writeText(made.url);
          } catch {
            address.select(); // no clipboard permission: selected for the reader to copy
            document.execCommand("copy");
          }
          announce(t("feed.copied"));
        }),
        subscribeLinks(made.url),
        h("p", { class: "hint", text: t("feed.secret") }));
    }), out);
}

async function myData() {
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  return h("div", {},
    action(t("me.download"), () => download("/me/export", {}, "kohtaamo-my-data.json")),
    h("form", { class: "danger-zone",
      onsubmit: async (e) => {
        e.preventDefault();
        if (!window.confirm(t("me.deleteConfirm"))) return;
        try {
          await post("/me/erase", { password: password.value });
          session.clear();
          announce(t("me.deleted"));
          navigate("#/events");
        } catch (err) { announceProblem(err, e.target); }
      } },
      h("h3", { text: t("me.delete") }), h("p", { text: t("me.deleteInfo") }),
      field(t("field.password"), password),
      h("button", { type: "submit", class: "danger", text: t("me.delete") })));
}

export async function meView() {
  if (!session.user()) {
    return h("section", {}, h("h1", { text: t("nav.me") }), h("p", {}, h("a", { href: "#/login", onclick: rememberReturn, text: t("auth.login") })));
  }
  const parts = await Promise.all([
    part("me.registrations", registrations), part("me.bookings", bookings), part("me.inbox", inbox),
    part("me.account", account), part("me.profile", profile), part("me.mentor", mentorOffer),
    part("me.consents", consents), part("feed.title", feed), part("me.data", myData),
  ]);
  return h("section", { class: "me" }, h("h1", { text: t("nav.me") }), h("div", { class: "grid" }, parts));
}
