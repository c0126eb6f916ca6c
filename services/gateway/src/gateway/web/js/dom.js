// Tiny DOM helpers: elements are built with properties and text nodes, never from HTML
// strings, so text from the API can never inject markup.

// A form or button whose handler is still working (an API call) takes no second click
// or submit: its buttons are disabled and it is marked busy until the handler is done.
function once(el, handler) {
  const guarded = el.tagName === "FORM" || el.tagName === "BUTTON";
  return (event) => {
    if (guarded && el.getAttribute("aria-busy") === "true") {
      event.preventDefault();
      return undefined;
    }
    const out = handler(event);
    if (!guarded || !(out instanceof Promise)) return out;
    const buttons = el.tagName === "FORM" ? [...el.querySelectorAll("button[type=submit]")] : [el];
    el.setAttribute("aria-busy", "true");
    for (const b of buttons) b.disabled = true;
    out.finally(() => {
      el.removeAttribute("aria-busy");
      for (const b of buttons) b.disabled = false;
    }).catch(() => {}); // the handler's own caller deals with its errors

    return out;
  };
}

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), once(el, value));
    } else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(el, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === "text") el.textContent = value;
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) if (child) el.append(child);
  return el;
}

let counter = 0;
export function uid(prefix = "f") {
  counter += 1;
  return `${prefix}-${counter}`;
}

// A labelled form field: <div class="field"><label for>..</label><input id>..</div>
export function field(label, control, hint) {
  if (!control.id) control.id = uid("fld");
  const parts = [h("label", { for: control.id, text: label })];
  if (hint) {
    const hintId = uid("hint");
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("p", { class: "hint", id: hintId, text: hint }));
  }
  parts.push(control);
  return h("div", { class: "field" }, parts);
}

export function select(options, value, attrs = {}) {
  const el = h("select", attrs);
  for (const [optValue, label] of options) {
    const opt = h("option", { value: optValue, text: label });
    if (String(optValue) === String(value ?? "")) opt.selected = true;
    el.append(opt);
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}
