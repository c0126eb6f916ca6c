// Staff: check a person in by the pass they show (a booking's or a registration's QR code,
// read by the phone's camera app, a scanner that types, or typed by hand).
import { post, session } from "../api.js";
import { h, field, clear } from "../dom.js";
import { t, loc, locLang, fmtDate, fmtTime } from "../i18n.js";
import { announce } from "../app.js";
import { showProblem, problemKind, signInLink } from "../problems.js";

// The pass in what was given: the QR code's link (…#/staff/scan?code=…) or the code alone.
export function passOf(text) {
  const value = String(text || "").trim();
  const inLink = value.match(/[?&]code=([^&#\s]+)/);
  const pass = inLink ? decodeURIComponent(inLink[1]) : value;
  return pass.replace(/[\s-]/g, "").toUpperCase();
}

const SERVICE = { B: "/bookings/check-in", R: "/registrations/check-in" };

function result(kind, made) {
  if (kind === "B") {
    const tz = made.timezone;
    return [
      h("p", { class: "long-text" }, h("strong", { lang: locLang(made.resource_name), text: loc(made.resource_name) })),
      h("p", { text: `${fmtDate(made.starts_at, tz)} ${fmtTime(made.starts_at, tz)}–${fmtTime(made.ends_at, tz)} · ${t("scan.people", { n: made.people })}` }),
    ];
  }
  return [
    h("p", { class: "long-text" }, h("strong", { lang: locLang(made.event_title), text: loc(made.event_title) })),
    h("p", { class: "long-text", text: `${made.name || made.group_name || "—"} · ${t("scan.seats", { n: made.seats })}` }),
  ];
}

export function scanTab(params) {
  // A camera app opens the code's link in a new tab, which has no session yet: sign in
  // first, and the link back keeps the code.
  if (!session.user()) return h("p", {}, signInLink());
  const code = h("input", { name: "code", autocomplete: "off", autocapitalize: "characters", spellcheck: "false", maxlength: 300, required: true, value: params.code || "" });
  const error = h("div", { class: "form-error", role: "alert" });
  const outcome = h("div", { "aria-live": "polite" });
  const form = h("form", {
    class: "card scan-form",
    onsubmit: async (e) => {
      e.preventDefault();
      clear(error);
      clear(outcome);
      const pass = passOf(code.value);
      const path = SERVICE[pass[0]];
      try {
        if (!path || pass.length !== 25) {
          const bad = new Error("not a pass");
          bad.status = 422;
          bad.problem = { type: "https://kohtaamo.fi/problems/pass-invalid", errors: [{ field: "code", type: "value_error" }] };
          throw bad;
        }
        const made = await post(path, { code: pass });
        outcome.append(h("div", { class: "card success scan-done" }, h("p", {}, h("strong", { text: t("scan.done") })), result(pass[0], made)));
        announce(t("scan.done"));
        code.value = "";
        code.focus(); // ready for the next person
      } catch (err) {
        // A code that is not one, or that nobody has, marks the field; a pass already
        // used, or of a cancelled booking, is about the booking, not what was typed.
        const aboutField = [422, 404].includes(err.status);
        showProblem(error, err, { form: aboutField ? e.target : null });
        const at = err.problem?.checked_in_at;
        if (problemKind(err) === "already-checked-in" && at) {
          error.append(h("p", { text: t("scan.checkedInAt", { when: `${fmtDate(at)} ${fmtTime(at)}` }) }));
        }
        if (!aboutField) code.focus();
      }
    },
  },
  h("p", { text: t("scan.intro") }),
  field(t("scan.code"), code, t("scan.hint")),
  error,
  h("button", { type: "submit", class: "primary", text: t("scan.submit") }));
  return h("div", {}, form, outcome);
}
