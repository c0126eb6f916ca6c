// Staff: an event's check-in list; mark attendance by row or by the attendee's code.
import { get, getPages, post, download } from "../api.js";
import { h, field } from "../dom.js";
import { t, loc, locLang, fmtDateTime } from "../i18n.js";
import { announce, announceProblem, route } from "../app.js";

export async function checkinView(id) {
  const [ev, list] = await Promise.all([get(`/events/${id}`), getPages(`/events/${id}/registrations`)]);
  async function mark(body, attended = true) {
    try {
      await post(`/events/${id}/attendance`, { ...body, attended });
      await route();
      announce(t(attended ? "checkin.marked" : "checkin.unmarked"));
    } catch (err) {
      announceProblem(err);
    }
  }
  const code = h("input", { name: "code", autocomplete: "off", minlength: 4, maxlength: 16 });
  const rows = list.items.map((r) => h("tr", { class: `reg-${r.status}` },
    h("th", { scope: "row", class: "long-text", text: r.name || r.group_name || r.user_id }),
    h("td", { "data-label": t("checkin.seats"), text: String(r.seats) }),
    h("td", { "data-label": t("checkin.status"), class: r.attended ? "present" : null, text: r.attended ? t("checkin.present") : t(`checkin.status.${r.status}`, { place: r.place ?? "?" }) }),
    h("td", { "data-label": t("checkin.codeCol"), text: r.code || "" }),
    h("td", { "data-label": t("checkin.attended") }, r.status !== "confirmed" ? "" : r.attended
      ? h("button", { type: "button", class: "secondary", text: t("checkin.undo"), "aria-label": `${t("checkin.undo")}: ${r.name || r.user_id}`, onclick: () => mark({ registration_id: r.id }, false) })
      : h("button", { type: "button", class: "primary", text: t("checkin.mark"), "aria-label": `${t("checkin.mark")}: ${r.name || r.user_id}`, onclick: () => mark({ registration_id: r.id }) })),
  ));
  const attended = list.items.filter((r) => r.attended).length;
  return h("section", {},
    h("p", {}, h("a", { href: "#/staff/events", text: `← ${t("nav.staff")}` })),
    h("h1", {}, t("checkin.title"), ": ", h("span", { lang: locLang(ev.title), text: loc(ev.title) })),
    h("p", { text: `${fmtDateTime(ev.starts_at, ev.timezone)} · ${t("checkin.summary", { taken: list.seats_taken, capacity: list.capacity ?? "∞", attended })}` }),
    h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); mark({ code: code.value.trim() }); } },
      field(t("checkin.code"), code), h("button", { type: "submit", class: "primary", text: t("checkin.byCode") })),
    list.items.length
      ? h("div", { class: "table-scroll" }, h("table", { class: "data stack", id: "checkin-table" },
          h("caption", { text: t("checkin.list") }),
          h("thead", {}, h("tr", {}, ["checkin.name", "checkin.seats", "checkin.status", "checkin.codeCol", "checkin.attended"].map((k) => h("th", { scope: "col", text: t(k) })))),
          h("tbody", {}, rows)))
      : h("p", { text: t("checkin.empty") }),
    h("div", { class: "row-actions" },
      h("button", { type: "button", class: "secondary", text: t("checkin.csv"), onclick: () => download(`/events/${id}/registrations.csv`, {}, `${id}.csv`).catch((e) => announceProblem(e)) }),
      h("button", { type: "button", class: "secondary", text: t("checkin.xlsx"), onclick: () => download(`/events/${id}/registrations.xlsx`, {}, `${id}.xlsx`).catch((e) => announceProblem(e)) })));
}
