// Sign in and sign up (a resident account in a municipality).
import { post, session } from "../api.js";
import { h, field, select } from "../dom.js";
import { t, loc, currentLang } from "../i18n.js";
import { announce, navigate, listMunicipalities } from "../app.js";
import { showProblem } from "../problems.js";
import { cityLabel, cityProviders, startCityLogin } from "./account.js";

function afterLogin() {
  const back = sessionStorage.getItem("kohtaamo.back");
  sessionStorage.removeItem("kohtaamo.back");
  navigate(back || "#/me");
}

export { rememberReturn } from "../problems.js";

export async function municipalitySelect() {
  const found = await listMunicipalities();
  const options = found.map((m) => [m.slug, loc(m.name)]);
  return select(options.length ? options : [["helsinki", "Helsinki"]], "", {
    name: "municipality",
    required: true,
    autocomplete: "off",
  });
}

function errorBox() {
  return h("div", { class: "form-error", role: "alert" });
}

export async function loginView() {
  const municipality = await municipalitySelect();
  const email = h("input", { type: "email", name: "email", required: true, autocomplete: "username" });
  const password = h("input", {
    type: "password", name: "password", required: true, autocomplete: "current-password",
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
          const tokens = await post("/auth/login", {
            municipality: municipality.value,
            email: email.value.trim(),
            password: password.value,
          });
          session.save(tokens);
          announce(t("auth.welcome"));
          afterLogin();
        } catch (err) {
          showProblem(error, err, { form: e.target });
        }
      },
    },
    field(t("field.municipality"), municipality),
    field(t("field.email"), email),
    field(t("field.password"), password),
    error,
    h("button", { type: "submit", class: "primary", text: t("auth.login") }),
  );
  return h(
    "section",
    {},
    h("h1", { text: t("auth.login") }),
    await cityLogin(municipality),
    form,
    h("p", {}, h("a", { href: "#/forgot-password", text: t("auth.forgot") })),
    h("p", {}, t("auth.noAccount"), " ", h("a", { href: "#/signup", text: t("auth.signup") })),
  );
}

// "Sign in with <city>" where the chosen municipality has a city login (identity's
// providers); it follows the municipality picked in the form below.
async function cityLogin(municipality) {
  const found = await cityProviders();
  const terms = h("input", { type: "checkbox", name: "city_terms", id: "city-terms" });
  const error = errorBox();
  const button = h("button", { type: "button", class: "primary" });
  const box = h(
    "div",
    { class: "card narrow city-login" },
    button,
    h("div", { class: "check" }, terms, h("label", { for: "city-terms", text: t("city.terms") })),
    error,
    h("p", { text: t("city.or") }),
  );
  const show = () => {
    const provider = found.find((p) => p.municipality === municipality.value);
    box.hidden = !provider;
    if (provider) {
      const name = municipality.selectedOptions[0]?.textContent || provider.municipality;
      button.textContent = t("city.signIn", { name: cityLabel(provider, name) });
    }
  };
  button.addEventListener("click", async () => {
    error.textContent = "";
    button.disabled = true;
    try {
      await startCityLogin(municipality.value, { acceptTerms: terms.checked });
    } catch (err) {
      button.disabled = false;
      showProblem(error, err);
    }
  });
  municipality.addEventListener("change", show);
  show();
  return box;
}

export async function signupView() {
  const municipality = await municipalitySelect();
  const name = h("input", { name: "display_name", required: true, autocomplete: "name" });
  const email = h("input", { type: "email", name: "email", required: true, autocomplete: "email" });
  const password = h("input", {
    type: "password", name: "password", required: true, minlength: 10,
    autocomplete: "new-password",
  });
  const language = select(
    [["fi", "Suomi"], ["sv", "Svenska"], ["en", "English"]], currentLang(), { name: "language" },
  );
  const terms = h("input", { type: "checkbox", name: "accept_terms", id: "accept-terms" });
  const error = errorBox();
  const form = h(
    "form",
    {
      class: "card narrow",
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = "";
        try {
          const out = await post("/auth/signup", {
            municipality: municipality.value,
            email: email.value.trim(),
            password: password.value,
            display_name: name.value.trim(),
            language: language.value,
            accept_terms: terms.checked,
          });
          session.save(out.tokens);
          announce(t("auth.created"));
          afterLogin();
        } catch (err) {
          showProblem(error, err, { form: e.target });
        }
      },
    },
    field(t("field.municipality"), municipality),
    field(t("field.name"), name),
    field(t("field.email"), email),
    field(t("field.password"), password, t("auth.passwordHint")),
    field(t("field.language"), language),
    h("div", { class: "check" }, terms, h("label", { for: "accept-terms", text: t("auth.terms") })),
    error,
    h("button", { type: "submit", class: "primary", text: t("auth.signup") }),
  );
  return h(
    "section",
    {},
    h("h1", { text: t("auth.signup") }),
    form,
    h("p", {}, t("auth.haveAccount"), " ", h("a", { href: "#/login", text: t("auth.login") })),
  );
}
