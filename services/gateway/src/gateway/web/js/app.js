// The shell: language, navigation by role, hash routes, focus and status messages.
import { session, setApiLanguage, getAll, SESSION_ENDED } from "./api.js";
import { problemText, problemPage, problemToast, markProblemFields } from "./problems.js";
import { h, clear, select } from "./dom.js";
import { LANGUAGES, setLang, t, preferredLang, currentLang } from "./i18n.js";
import { eventsView } from "./views/events.js";
import { eventView } from "./views/event.js";
import { bookView } from "./views/book.js";
import { meView } from "./views/me.js";
import { loginView, signupView, municipalitySelect } from "./views/auth.js";
import { endSession, finishCityLogin, forgotView, resetView, verifyView } from "./views/account.js";
import { staffView } from "./views/staff.js";
import { checkinView } from "./views/checkin.js";
import { dashboardView } from "./views/dashboard.js";
import { mentorsView } from "./views/mentors.js";
import { spaceView } from "./views/space.js";

const main = document.getElementById("main");

const ROUTES = [
  [/^#?\/?$/, () => eventsView({})],
  [/^#\/events(?:\?(.*))?$/, (m) => eventsView(Object.fromEntries(new URLSearchParams(m[1])))],
  [/^#\/events\/([\w-]+)$/, (m) => eventView(m[1])],
  [/^#\/book(?:\?(.*))?$/, (m) => bookView(Object.fromEntries(new URLSearchParams(m[1])))],
  [/^#\/spaces\/([\w-]+)$/, (m) => spaceView(m[1])],
  [/^#\/mentors(?:\?(.*))?$/, (m) => mentorsView(Object.fromEntries(new URLSearchParams(m[1])))],
  [/^#\/me$/, () => meView()],
  [/^#\/login$/, () => loginView()],
  [/^#\/signup$/, () => signupView()],
  [/^#\/staff\/scan(?:\?(.*))?$/, (m) => staffView("scan", Object.fromEntries(new URLSearchParams(m[1])))],
  [/^#\/forgot-password$/, () => forgotView(municipalitySelect)],
  [/^#\/reset-password\/([\w.-]+)$/, (m) => resetView(m[1])],
  [/^#\/verify-email\/([\w.-]+)$/, (m) => verifyView(m[1])],
  [/^#\/staff(?:\/(\w+))?$/, (m) => staffView(m[1] || "events")],
  [/^#\/staff\/checkin\/([\w-]+)$/, (m) => checkinView(m[1])],
  [/^#\/dashboard$/, () => dashboardView()],
];

// Toasts stack (newest last, at most three) and each expires on its own, so an old one
// never hides a new one.
const TOASTS = 3;
export function announce(message, kind = "info") {
  if (!message || (Array.isArray(message) && !message.length)) return;
  const box = document.getElementById("status");
  const toast = h("p", { class: `toast toast-${kind}` }, message);
  box.append(toast);
  while (box.children.length > TOASTS) box.firstChild.remove();
  setTimeout(() => toast.remove(), kind === "error" ? 12000 : 6000);
}

export function announceProblem(error, form = null) {
  if (form instanceof HTMLFormElement) markProblemFields(form, error);
  announce(problemToast(error), "error");
}

export { problemText };

function navLinks() {
  const links = [
    ["#/events", t("nav.events")],
    ["#/book", t("nav.book")],
  ];
  if (session.user()) links.push(["#/mentors", t("nav.mentors")], ["#/me", t("nav.me")]);
  if (session.has("staff", "admin")) links.push(["#/staff", t("nav.staff")]);
  if (session.has("staff", "admin", "analyst")) links.push(["#/dashboard", t("nav.dashboard")]);
  return links;
}

function renderChrome() {
  document.title = "Kohtaamo";
  document.getElementById("skip-link").textContent = t("skip");
  document.getElementById("lang-label").textContent = t("language");
  document.getElementById("nav").setAttribute("aria-label", t("nav.label"));
  document.getElementById("footer-text").textContent = t("footer");
  const list = clear(document.getElementById("nav-list"));
  const here = location.hash || "#/events";
  for (const [href, label] of navLinks()) {
    const current = here === href || here.startsWith(href + "/") || here.startsWith(href + "?");
    list.append(
      h("li", {}, h("a", { href, "aria-current": current ? "page" : null, text: label })),
    );
  }
  const account = clear(document.getElementById("account"));
  const user = session.user();
  if (user) {
    account.append(
      h("button", {
        type: "button",
        class: "link-button",
        text: t("auth.logout"),
        onclick: logout,
      }),
    );
  } else {
    account.append(h("a", { href: "#/login", text: t("auth.login") }));
  }
}

async function logout() {
  const provider = await endSession();
  // A city login's session ends at the provider too; it sends the browser back here.
  if (provider) {
    location.assign(provider);
    return;
  }
  announce(t("auth.loggedOut"));
  location.hash = "#/events";
  renderChrome();
}

let rendering = 0;
export async function route() {
  const ticket = ++rendering;
  renderChrome();
  const hash = location.hash || "#/events";
  const match = ROUTES.map(([re, view]) => [hash.match(re), view]).find(([m]) => m);
  const content = h("div", { class: "view" });
  // A slow answer shows that something is coming instead of the previous page.
  const slow = setTimeout(() => {
    if (ticket !== rendering) return;
    main.setAttribute("aria-busy", "true");
    clear(main).append(h("p", { class: "loading", text: t("loading") }));
  }, 300);
  try {
    const built = match ? await match[1](match[0]) : h("h1", { text: t("notFound") });
    if (ticket !== rendering) return;
    content.append(built);
  } catch (error) {
    if (ticket !== rendering) return;
    content.append(problemPage(error, () => route()));
  }
  clearTimeout(slow);
  main.removeAttribute("aria-busy");
  clear(main).append(content);
  const heading = main.querySelector("h1");
  if (heading) {
    heading.tabIndex = -1;
    document.title = `${heading.textContent} – Kohtaamo`;
    if (document.activeElement !== document.body || ticket > 1) heading.focus();
  }
}

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

// Municipalities (public) for sign-up and for browsing without an account.
let municipalities = null;
export async function listMunicipalities() {
  if (!municipalities) {
    try {
      municipalities = await getAll("/municipalities");
    } catch {
      municipalities = [];
    }
  }
  return municipalities;
}

async function start() {
  await setLang(preferredLang());
  setApiLanguage(currentLang());
  const langSelect = document.getElementById("lang-select");
  const choices = select(LANGUAGES, currentLang());
  langSelect.replaceChildren(...choices.children);
  langSelect.value = currentLang();
  langSelect.addEventListener("change", async () => {
    await setLang(langSelect.value);
    setApiLanguage(currentLang());
    await route();
  });
  // The skip link moves focus without touching the hash the router uses.
  document.getElementById("skip-link").addEventListener("click", (e) => {
    e.preventDefault();
    main.focus();
  });
  window.addEventListener("hashchange", route);
  // The session could not be renewed: the header offers signing in again at once.
  window.addEventListener(SESSION_ENDED, renderChrome);
  if (!(await finishCityLogin())) await route();
}

start();
