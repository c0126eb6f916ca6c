// Staff: what a place's page and its spaces' cards say (#/spaces/{id}): the place's
// address (with the map link made from it), description, accessibility and photo
// (PATCH /locations/{id}), and each space's size, equipment, accessibility, price and terms
// (PATCH /resources/{id}). Each form sends back the ETag it read (If-Match): when someone
// else saved in between, the answer is 412, the form says so and shows their version.
import { getTagged, patchIfMatch } from "../api.js";
import { h, field, select, clear, append } from "../dom.js";
import { t, loc } from "../i18n.js";
import { announce } from "../app.js";
import { showProblem, clearFields } from "../problems.js";
import { mapLink } from "./space.js";

const LANGS = ["fi", "sv", "en"];

// One text per language (fi, sv, en) in a fieldset; empty ones are left out when sent.
function localized(legend, name, value, { long = true } = {}) {
  const inputs = Object.fromEntries(LANGS.map((l) => [l, long
    ? h("textarea", { name: `${name}_${l}`, lang: l, rows: 3, maxlength: 5000 })
    : h("input", { name: `${name}_${l}`, lang: l, maxlength: 200 })]));
  const set = (v) => { for (const l of LANGS) inputs[l].value = (v || {})[l] || ""; };
  set(value);
  return {
    element: h("fieldset", { class: "localized" }, h("legend", { text: legend }),
      LANGS.map((l) => field(t(`places.lang.${l}`), inputs[l]))),
    read: () => Object.fromEntries(LANGS.map((l) => [l, inputs[l].value.trim()]).filter(([, v]) => v)),
    set,
  };
}

const lines = (text) => text.split("\n").map((s) => s.trim()).filter(Boolean);

// The form's shell: a chooser, the fields for the chosen thing (read with its ETag), a
// save that sends If-Match, and a 412 that reloads the other person's version.
function editor({ label, choices, path, fields, saved }) {
  const chooser = select(choices, choices[0]?.[0], { name: "target" });
  const body = h("div");
  const error = h("div", { class: "form-error", role: "alert" });
  const save = h("button", { type: "submit", class: "primary", text: t("save") });
  let etag = null;
  let read = () => ({});
  let shown = null;
  let loads = 0;
  // `again`: read the shown one anew (after a 412); otherwise only a newly chosen one, and
  // only the latest choice is shown.
  async function load(again = false) {
    const id = chooser.value;
    if (id === shown && !again) return;
    const ticket = ++loads;
    // Nothing is saved while the chosen one is on its way (the fields are another's).
    body.setAttribute("aria-busy", "true");
    save.disabled = true;
    try {
      const answer = await getTagged(path(id));
      if (ticket !== loads) return;
      shown = id;
      ({ etag } = answer);
      const [elements, reader] = fields(answer.body);
      read = reader;
      append(clear(body), elements);
      body.dataset.shown = id;
    } finally {
      if (ticket === loads) {
        body.removeAttribute("aria-busy");
        save.disabled = false;
      }
    }
  }
  chooser.addEventListener("change", () => { clear(error); load().catch((err) => showProblem(error, err)); });
  const form = h("form", { class: "place-form", onsubmit: async (e) => {
    e.preventDefault();
    clear(error);
    try {
      ({ etag } = await patchIfMatch(path(shown), read(), etag));
      clearFields(e.target);
      announce(saved);
    } catch (err) {
      showProblem(error, err, { form: e.target });
      if (err.status === 412) {
        await load(true); // someone saved first: show their version to change again
        error.append(h("p", { class: "hint", text: t("places.reloaded") }));
      }
    }
  } }, field(label, chooser), body, error, save);
  return { form, load };
}

export async function placeForm(locations) {
  const { form, load } = editor({
    label: t("book.location"),
    choices: locations.map((l) => [l.id, loc(l.name)]),
    path: (id) => `/locations/${encodeURIComponent(id)}`,
    saved: t("places.saved"),
    fields(place) {
      const address = h("input", { name: "address", maxlength: 200, value: place.address || "", autocomplete: "off" });
      const preview = h("p", { class: "map-preview" });
      const showMap = () => clear(preview).append(address.value.trim() ? mapLink(address.value.trim()) : t("places.noAddress"));
      address.addEventListener("input", showMap);
      showMap();
      const description = localized(t("places.description"), "description", place.description);
      const access = h("textarea", { name: "accessibility", rows: 3, text: (place.accessibility || []).join("\n") });
      const src = h("input", { name: "src", value: place.image?.src || "", placeholder: "/media/room.jpg", maxlength: 300 });
      const alt = localized(t("places.photoAlt"), "alt", place.image?.alt, { long: false });
      const reader = () => ({
        address: address.value.trim() || null,
        description: description.read(),
        accessibility: lines(access.value),
        image: src.value.trim() ? { src: src.value.trim(), alt: alt.read() } : null,
      });
      return [[
        field(t("space.address"), address), preview,
        description.element,
        field(t("space.accessibility"), access, t("places.onePerLine")),
        field(t("places.photo"), src, t("places.photoHint")),
        alt.element,
      ], reader];
    },
  });
  if (locations.length) await load();
  return form;
}

export async function spaceForm(resources) {
  const { form, load } = editor({
    label: t("staff.resource"),
    choices: resources.map((r) => [r.id, loc(r.name)]),
    path: (id) => `/resources/${encodeURIComponent(id)}`,
    saved: t("places.saved"),
    fields(space) {
      const capacity = h("input", { type: "number", name: "capacity", min: 1, max: 1000, required: true, value: space.capacity ?? 1 });
      const equipment = h("textarea", { name: "equipment", rows: 3, text: (space.equipment || []).join("\n") });
      const access = h("textarea", { name: "accessibility", rows: 2, text: (space.accessibility || []).join("\n") });
      const description = localized(t("places.description"), "description", space.description);
      const free = !space.price || space.price.free;
      const charge = select([["free", t("space.free")], ["paid", t("places.paid")]], free ? "free" : "paid", { name: "free" });
      const amount = h("input", { type: "number", name: "amount", min: 0, max: 100000, step: "0.01", value: free ? "" : space.price.amount });
      const per = select(["hour", "booking", "day"].map((p) => [p, t(`places.per.${p}`)]), space.price?.per || "hour", { name: "per" });
      const paidOnly = h("div", { class: "paid-only" }, field(t("places.amount"), amount), field(t("places.per"), per));
      const toggle = () => { paidOnly.hidden = charge.value === "free"; amount.required = charge.value !== "free"; };
      charge.addEventListener("change", toggle);
      toggle();
      const terms = localized(t("space.terms"), "terms", space.terms);
      const reader = () => ({
        capacity: Number(capacity.value),
        equipment: lines(equipment.value),
        accessibility: lines(access.value),
        description: description.read(),
        price: charge.value === "free" ? { free: true } : { free: false, amount: Number(amount.value), per: per.value, currency: space.price?.currency || "EUR" },
        terms: terms.read(),
      });
      return [[
        field(t("space.capacity"), capacity),
        field(t("space.equipment"), equipment, t("places.onePerLine")),
        field(t("space.accessibility"), access, t("places.onePerLine")),
        description.element,
        field(t("space.price"), charge), paidOnly,
        terms.element,
      ], reader];
    },
  });
  if (resources.length) await load();
  return form;
}
