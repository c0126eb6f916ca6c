// What went wrong, in the reader's language. The server's problem type (RFC 9457 `type`)
// or, failing that, its status picks one translated text per kind of problem: the
// server's own English `detail` is for developers and logs, never shown. A 422 marks the
// fields it names; errors on the server's side offer a retry and the correlation id to
// quote to support.
import { PROBLEMS } from "./api.js";
import { h, clear, uid } from "./dom.js";
import { t } from "./i18n.js";

// The last segment of the problem type -> the text for it.
const BY_TYPE = {
  offline: "problem.offline",
  "session-ended": "problem.sessionEnded",
  "invalid-refresh-token": "problem.sessionEnded",
  "invalid-token": "problem.sessionEnded",
  "login-failed": "problem.loginFailed",
  "login-rate-limited": "problem.tooManyAttempts",
  "rate-limited": "problem.tooManyAttempts",
  "other-municipality": "problem.otherMunicipality",
  "birthdate-needed": "problem.birthdateNeeded",
  "age-limit": "problem.ageLimit",
  "age-verification-needed": "problem.ageVerification",
  "invalid-link": "problem.invalidLink",
  "city-login-refused": "problem.cityLogin",
  "city-login-link-needed": "problem.cityLoginLink",
  "city-identity-linked": "problem.cityLoginLink",
  "city-login-unavailable": "problem.cityLoginDown",
  "booking-conflict": "problem.bookingConflict",
  "booking-rule": "problem.bookingRule",
  "booking-limit": "problem.bookingRule",
  "concurrent-change": "problem.concurrentChange",
  duplicate: "problem.duplicate",
  "not-found": "problem.notFound",
  "pass-invalid": "problem.passInvalid",
  "pass-unknown": "problem.passUnknown",
  "pass-not-valid": "problem.passNotValid",
  "already-checked-in": "problem.alreadyCheckedIn",
  "body-too-large": "problem.tooLarge",
  "service-not-deployed": "problem.notDeployed",
  "upstream-unreachable": "problem.server",
  "upstream-timeout": "problem.server",
  "circuit-open": "problem.server",
  "gateway-busy": "problem.server",
};

// Titles of problems that have no type of their own yet.
const BY_TITLE = {
  "Wrong password": "problem.wrongPassword",
  "Weak password": "problem.invalid",
  "Already registered": "problem.duplicate",
};

const BY_STATUS = {
  401: "problem.sessionEnded",
  403: "problem.forbidden",
  404: "problem.notFound",
  409: "problem.conflict",
  412: "problem.stale",
  413: "problem.tooLarge",
  422: "problem.invalid",
  429: "problem.tooManyAttempts",
};

export function problemKind(error) {
  const type = String(error?.problem?.type || "");
  // the last segment: a service's own folder (…/problems/events/duplicate) is the same kind
  return type.startsWith(PROBLEMS) ? type.slice(PROBLEMS.length).split("/").pop() : "";
}

function problemKey(error) {
  const status = error?.status;
  if (status === undefined) return "problem.other"; // a bug in the page, not an answer
  if (status === 0) return "problem.offline";
  if (status >= 500) return BY_TYPE[problemKind(error)] || "problem.server";
  return BY_TYPE[problemKind(error)] || BY_TITLE[error.problem?.title] || BY_STATUS[status] || "problem.other";
}

export function problemText(error) {
  if (error?.status === undefined) console.error(error); // keep the real cause for developers
  return t(problemKey(error), { age: error?.problem?.min_age ?? "" });
}

export const sessionEnded = (error) => problemKey(error) === "problem.sessionEnded";

// The server's side failed or could not be reached: worth a retry, and worth quoting.
export const serverSide = (error) => error?.status === 0 || error?.status >= 500;

export function rememberReturn() {
  if (!location.hash.startsWith("#/login")) sessionStorage.setItem("kohtaamo.back", location.hash);
}

export function signInLink() {
  return h("a", { href: "#/login", class: "sign-in-again", onclick: rememberReturn, text: t("error.signinAgain") });
}

function reference(error) {
  return error.correlationId ? h("p", { class: "hint", text: t("error.reference", { id: error.correlationId }) }) : null;
}

// One message per invalid field, from the validation error's kind (never its text).
function fieldText(entry, error) {
  if (["booking-rule", "booking-limit"].includes(problemKind(error))) return t("problem.bookingRule");
  if (error.problem?.title === "Weak password") return t("auth.passwordHint");
  const type = String(entry.type || "");
  if (type === "missing") return t("field.missing");
  if (type.includes("too_long")) return t("field.tooLong");
  if (type.includes("too_short")) return t("field.tooShort");
  if (/^(greater|less)_than/.test(type)) return t("field.range");
  return t("field.invalid");
}

export function clearFields(form) {
  for (const note of form.querySelectorAll(".field-error")) {
    const control = form.querySelector(`[aria-describedby~="${note.id}"]`);
    if (control) {
      const rest = control.getAttribute("aria-describedby").split(" ").filter((id) => id !== note.id);
      if (rest.length) control.setAttribute("aria-describedby", rest.join(" "));
      else control.removeAttribute("aria-describedby");
      control.removeAttribute("aria-invalid");
    }
    note.remove();
  }
}

// Marks the controls a 422 names (by their `name`); returns the first one.
function markFields(form, error) {
  let first = null;
  for (const entry of error.problem?.errors || []) {
    const name = String(entry.field || "");
    const control =
      form.querySelector(`[name="${CSS.escape(name)}"]`) ||
      form.querySelector(`[name="${CSS.escape(name.split(".").pop())}"]`);
    if (!control || control.getAttribute("aria-invalid") === "true") continue;
    const note = h("p", { class: "field-error", id: uid("err"), text: fieldText(entry, error) });
    control.after(note);
    control.setAttribute("aria-invalid", "true");
    const described = control.getAttribute("aria-describedby");
    control.setAttribute("aria-describedby", described ? `${described} ${note.id}` : note.id);
    first = first || control;
  }
  return first;
}

// A form's error box: the message, the fields marked (focus on the first), a sign-in
// link when the session ended, a retry and the correlation id when the server failed.
export function showProblem(box, error, { form = null, retry = null } = {}) {
  clear(box);
  if (form) clearFields(form);
  box.append(h("p", { text: problemText(error) }));
  if (sessionEnded(error)) box.append(h("p", {}, signInLink()));
  if (serverSide(error) && retry) {
    box.append(h("p", {}, h("button", { type: "button", class: "secondary", text: t("error.retry"), onclick: retry })));
  }
  const ref = serverSide(error) ? reference(error) : null;
  if (ref) box.append(ref);
  const first = form && markFields(form, error);
  if (first) first.focus();
}

// A whole page that could not be shown.
export function problemPage(error, retry) {
  if (sessionEnded(error)) {
    return h("section", {}, h("h1", { text: t("error.sessionTitle") }), h("p", { text: t("problem.sessionEnded") }), h("p", {}, signInLink()));
  }
  const box = h("div", { class: "problem" });
  showProblem(box, error, { retry });
  return h("section", {}, h("h1", { text: t("error.title") }), box);
}

// Marks the fields a 422 names in a form whose errors go to a toast.
export function markProblemFields(form, error) {
  clearFields(form);
  const first = markFields(form, error);
  if (first) first.focus();
}

// A toast for an action outside a form.
export function problemToast(error) {
  const extra = [];
  if (sessionEnded(error)) extra.push(" ", signInLink());
  if (serverSide(error) && error.correlationId) extra.push(" ", t("error.reference", { id: error.correlationId }));
  return [problemText(error), ...extra];
}
