// fi / sv / en: UI strings from i18n/<lang>.json, dates with Intl, and the API's
// multilingual fields ({"fi": "...", "sv": "...", "en": "..."}) in the chosen language.

export const LANGUAGES = [
  ["fi", "Suomi"],
  ["sv", "Svenska"],
  ["en", "English"],
];
const LOCALES = { fi: "fi-FI", sv: "sv-FI", en: "en-GB" };
const KEY = "kohtaamo.lang";

let lang = "fi";
let strings = {};
let fallback = {};

export function currentLang() {
  return lang;
}

async function load(code) {
  const response = await fetch(new URL(`../i18n/${code}.json`, import.meta.url));
  return response.json();
}

export function preferredLang() {
  const stored = localStorage.getItem(KEY);
  if (stored && LOCALES[stored]) return stored;
  for (const l of navigator.languages || []) {
    const code = l.slice(0, 2).toLowerCase();
    if (LOCALES[code]) return code;
  }
  return "fi";
}

export async function setLang(code) {
  if (!LOCALES[code]) code = "fi";
  strings = await load(code);
  if (code !== "en" && !Object.keys(fallback).length) fallback = await load("en");
  lang = code;
  localStorage.setItem(KEY, code);
  document.documentElement.lang = code;
}

export function t(key, vars = {}) {
  let text = strings[key] ?? fallback[key] ?? key;
  for (const [name, value] of Object.entries(vars)) text = text.replaceAll(`{${name}}`, value);
  return text;
}

// A multilingual field in the current language, else Finnish, English, Swedish, any.
export function loc(text) {
  if (!text) return "";
  if (typeof text === "string") return text;
  return text[lang] || text.fi || text.en || text.sv || Object.values(text)[0] || "";
}

// The language a multilingual field is shown in (for a lang attribute when it differs).
export function locLang(text) {
  if (!text || typeof text === "string") return lang;
  for (const code of [lang, "fi", "en", "sv"]) if (text[code]) return code;
  return Object.keys(text)[0] || lang;
}

function fmt(iso, options, timeZone) {
  if (!iso) return "";
  const date = iso instanceof Date ? iso : new Date(iso);
  return new Intl.DateTimeFormat(LOCALES[lang], { timeZone, ...options }).format(date);
}

export const fmtDateTime = (iso, tz) =>
  fmt(iso, { weekday: "short", day: "numeric", month: "numeric", year: "numeric",
             hour: "2-digit", minute: "2-digit" }, tz);
export const fmtDate = (iso, tz) =>
  fmt(iso, { weekday: "short", day: "numeric", month: "numeric", year: "numeric" }, tz);
export const fmtTime = (iso, tz) => fmt(iso, { hour: "2-digit", minute: "2-digit" }, tz);
export const fmtMonth = (date) => fmt(date, { month: "long", year: "numeric" });
export const fmtNumber = (n) =>
  n === null || n === undefined ? "–" : new Intl.NumberFormat(LOCALES[lang]).format(n);
export const weekdayNames = () => {
  // Monday first, as in Finland and Sweden.
  const monday = new Date(Date.UTC(2024, 0, 1));
  return Array.from({ length: 7 }, (_, i) =>
    fmt(new Date(monday.getTime() + i * 86400000), { weekday: "short" }, "UTC"),
  );
};
