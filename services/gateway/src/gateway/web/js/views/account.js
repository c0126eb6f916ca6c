// City login (OpenID Connect through identity), email verification and password reset.
import { PROBLEMS, getAll, post, session } from "../api.js";
import { h, field } from "../dom.js";
import { t, loc } from "../i18n.js";
import { announce, navigate, route } from "../app.js";
import { showProblem } from "../problems.js";

const STATE = "kohtaamo.oidc.state";
const CITY = "kohtaamo.city";
const STARTED = "kohtaamo.oidc.municipality"; // where the sign-in began (asked again if needed)

let providers = null;
export async function cityProviders() {
  if (!providers) {
    try {
      providers = await getAll("/auth/oidc/providers");
    } catch {
      providers = [];
    }
  }
  return providers;
}

export function cityLabel(provider, name) {
  return loc(provider.label) || name;
}

// Start a city sign-in (or, signed in, a link to it) and leave for the provider.
export async function startCityLogin(
  municipality,
  { acceptTerms = false, link = false, email = null } = {},
) {
  const body = { accept_terms: acceptTerms };
  if (email) body.email = email; // only when the city's login gives none
  const begun = link
    ? await post(`/auth/oidc/${encodeURIComponent(municipality)}/link`)
    : await post(`/auth/oidc/${encodeURIComponent(municipality)}/start`, body);
  // The state comes back with the browser: only the tab that started may finish.
  sessionStorage.setItem(STATE, begun.state);
  sessionStorage.setItem(STARTED, municipality);
  location.assign(begun.authorization_url);
}

// The provider sent the browser back to /app/?code=…&state=… (or ?error=…): finish there.
export async function finishCityLogin() {
  const params = new URLSearchParams(location.search);
  if (!params.has("state")) return false;
  if (!params.has("code") && !params.has("error")) {
    // Back from the provider's logout (RP-initiated logout): signed out there too.
    history.replaceState(null, "", location.pathname + "#/events");
    await route();
    announce(t("auth.loggedOut"));
    return true;
  }
  const expected = sessionStorage.getItem(STATE);
  sessionStorage.removeItem(STATE);
  // The code leaves the address bar (and the history) at once.
  history.replaceState(null, "", location.pathname + "#/login");
  if (params.get("error") || !params.get("code") || params.get("state") !== expected) {
    await route();
    announce(t("city.failed"), "error");
    return true;
  }
  try {
    const out = await post("/auth/oidc/callback", {
      state: params.get("state"),
      code: params.get("code"),
    });
    session.save(out.tokens);
    sessionStorage.setItem(CITY, "1");
    announce(t(out.created ? "auth.created" : "auth.welcome"));
    const back = sessionStorage.getItem("kohtaamo.back");
    sessionStorage.removeItem("kohtaamo.back");
    navigate(back || "#/me");
  } catch (err) {
    await route();
    const box = errorBox();
    showProblem(box, err);
    const municipality = sessionStorage.getItem(STARTED);
    const place = document.querySelector("#main section");
    if (err.problem?.type === `${PROBLEMS}city-login-email-needed` && municipality) {
      // The city's login gave no email: ask for it and sign in again, not a dead end.
      const asked = emailNeeded(municipality, box);
      place?.prepend(asked);
      asked.querySelector("input")?.focus();
    } else {
      place?.prepend(box);
    }
  }
  return true;
}

function emailNeeded(municipality, error) {
  const email = h("input", { type: "email", name: "email", required: true, autocomplete: "email" });
  return h(
    "form",
    {
      class: "card narrow",
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = "";
        try {
          await startCityLogin(municipality, { acceptTerms: true, email: email.value.trim() });
        } catch (err2) {
          showProblem(error, err2, { form: e.target });
        }
      },
    },
    h("p", { text: t("city.emailNeeded") }),
    field(t("field.email"), email),
    error,
    h("button", { type: "submit", class: "primary", text: t("city.emailContinue") }),
  );
}

// Logout: a city session also ends at the provider when it can (RP-initiated logout).
export async function endSession() {
  const s = session.load();
  const city = sessionStorage.getItem(CITY);
  sessionStorage.removeItem(CITY);
  session.clear();
  if (!s) return null;
  try {
    if (city) return (await post("/auth/oidc/logout", { refresh_token: s.refresh })).end_session_url;
    await post("/auth/logout", { refresh_token: s.refresh });
  } catch {
    /* the session ends here either way */
  }
  return null;
}

function errorBox() {
  return h("div", { class: "form-error", role: "alert" });
}

export async function forgotView(municipalitySelect) {
  const municipality = await municipalitySelect();
  const email = h("input", { type: "email", name: "email", required: true, autocomplete: "email" });
  const error = errorBox();
  const done = h("p", { role: "status" });
  const form = h(
    "form",
    {
      class: "card narrow",
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = "";
        try {
          await post("/auth/password/forgot", {
            municipality: municipality.value,
            email: email.value.trim(),
          });
          done.textContent = t("reset.sent");
        } catch (err) {
          showProblem(error, err, { form: e.target });
        }
      },
    },
    field(t("field.municipality"), municipality),
    field(t("field.email"), email),
    error,
    h("button", { type: "submit", class: "primary", text: t("reset.send") }),
    done,
  );
  return h("section", {}, h("h1", { text: t("reset.title") }), form);
}

export function resetView(token) {
  const password = h("input", {
    type: "password", name: "new_password", required: true, minlength: 10,
    autocomplete: "new-password",
  });
  const error = errorBox();
  const form = h(
    "form",
    {
      class: "card narrow",
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = "";
        try {
          await post("/auth/password/reset", { token, new_password: password.value });
          session.clear();
          announce(t("reset.done"));
          navigate("#/login");
        } catch (err) {
          showProblem(error, err, { form: e.target });
        }
      },
    },
    field(t("reset.newPassword"), password, t("auth.passwordHint")),
    error,
    h("button", { type: "submit", class: "primary", text: t("reset.save") }),
  );
  return h("section", {}, h("h1", { text: t("reset.newTitle") }), form);
}

export async function verifyView(token) {
  const section = h("section", {}, h("h1", { text: t("verify.title") }));
  try {
    await post("/auth/email/verify", { token });
    section.append(h("p", { role: "status", text: t("verify.done") }));
  } catch (err) {
    const box = errorBox();
    showProblem(box, err);
    section.append(box);
  }
  return section;
}
