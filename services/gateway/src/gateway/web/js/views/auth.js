// Sign in and sign up (a resident account in a municipality).
import { post, session } from "../api.js";
import { h, field, select } from "../dom.js";
import { t, loc, currentLang } from "../i18n.js";
import { announce, navigate, listMunicipalities } from "../app.js";
import { showProblem } from "../problems.js";

function afterLogin() {
  const back = sessionStorage.getItem("kohtaamo.back");
  sessionStorage.removeItem("kohtaamo.back");
  navigate(back || "#/me");
}

export { rememberReturn } from "../problems.js";

async function municipalitySelect() {
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
    form,
    h("p", {}, t("auth.noAccount"), " ", h("a", { href: "#/signup", text: t("auth.signup") })),
  );
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
