// "Who can help me with X": the mentor directory of the signed-in person's municipality.
import { get, getAll, session } from "../api.js";
import { h, field, select } from "../dom.js";
import { t } from "../i18n.js";
import { navigate } from "../app.js";
import { rememberReturn } from "./auth.js";

export async function mentorsView(params) {
  const title = h("h1", { text: t("mentors.title") });
  if (!session.user()) {
    return h("section", {}, title, h("p", {}, h("a", { href: "#/login", onclick: rememberReturn, text: t("auth.login") })));
  }
  const skill = h("input", { type: "search", name: "skill", value: params.skill || "" });
  const language = select(
    [["", t("mentors.anyLanguage")], ["fi", "Suomi"], ["sv", "Svenska"], ["en", "English"]],
    params.language || "",
    { name: "language" },
  );
  const [page, hours] = await Promise.all([
    get("/mentors", {
      skill: (params.skill || "").trim().toLowerCase() || undefined,
      language: params.language || undefined,
      limit: 200,
    }),
    getAll("/resources", { kind: "mentor_hours" }).catch(() => []),
  ]);
  // A mentor's office hours are resources of kind mentor_hours with their user id.
  const hoursOf = (id) => hours.filter((r) => r.mentor_user_id === id && r.active !== false);
  const found = page.items; // a page (docs/api.md): the first 200 are shown
  const list = found.length
    ? h("ul", { class: "cards", id: "mentor-list" }, found.map((m) => h("li", { class: "card" },
        h("h2", { class: "long-text", text: m.display_name }),
        h("p", { class: "meta" }, h("span", { class: "tag", text: t(m.kind === "professional" ? "mentor.professional" : "mentor.peer") })),
        h("p", {}, h("strong", { text: `${t("mentor.topics")}: ` }), m.topics.map((s) => s.skill).join(", ")),
        h("p", {}, h("strong", { text: `${t("me.languages")}: ` }), m.languages.join(", ")),
        m.bio ? h("p", { class: "long-text", text: m.bio }) : null,
        hoursOf(m.user_id).length
          ? h("p", {}, hoursOf(m.user_id).map((r) => h("a", { class: "button primary", href: `#/book?resource=${encodeURIComponent(r.id)}`, text: t("mentors.bookHours", { name: m.display_name }) })))
          : h("p", { class: "hint", text: t("mentors.noHours") }))))
    : h("p", { text: t("mentors.none") });
  return h("section", {}, title,
    h("p", { text: t("mentors.intro") }),
    h("form", { class: "filters", role: "search", "aria-label": t("mentors.title"), onsubmit: (e) => {
      e.preventDefault();
      const qs = new URLSearchParams(Object.entries({ skill: skill.value.trim(), language: language.value }).filter(([, v]) => v));
      navigate(`#/mentors${qs.toString() ? `?${qs}` : ""}`);
    } },
      field(t("mentors.skill"), skill), field(t("me.languages"), language),
      h("button", { type: "submit", class: "primary", text: t("filter.apply") })),
    list);
}
