// Check-in passes as QR codes, drawn as SVG with the vendored qrcode-generator (MIT,
// vendor/qrcode-generator/): nothing leaves the browser to make one.
import qrcode from "../vendor/qrcode-generator/qrcode.js";
import { h, svg } from "./dom.js";
import { t } from "./i18n.js";

// What the code carries: the staff check-in page with the pass, so a phone's camera app
// opens it for the staff member; a scanner that types, or a person, gives the pass alone.
export function passUrl(pass) {
  return `${location.origin}${location.pathname}#/staff/scan?code=${encodeURIComponent(pass)}`;
}

export function qrSvg(text, label) {
  const qr = qrcode(0, "M"); // the smallest version that holds it; 15 % may be smudged
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const quiet = 4; // the white margin readers need
  let d = "";
  for (let r = 0; r < n; r += 1) {
    for (let c = 0; c < n; c += 1) if (qr.isDark(r, c)) d += `M${c + quiet} ${r + quiet}h1v1h-1z`;
  }
  const size = n + 2 * quiet;
  return svg("svg", { class: "qr", viewBox: `0 0 ${size} ${size}`, role: "img", "aria-label": label, "shape-rendering": "crispEdges" },
    svg("rect", { width: size, height: size, fill: "#fff" }),
    svg("path", { d, fill: "#000" }));
}

// 25 characters in groups of five, easier to read out or type.
export const grouped = (pass) => pass.match(/.{1,5}/g).join(" ");

// A booking's or registration's pass: the QR code and the same code as text.
export function passBlock(pass, what, { open = false } = {}) {
  return h("details", { class: "pass", open },
    h("summary", { text: t("pass.show") }),
    h("div", { class: "pass-body" },
      qrSvg(passUrl(pass), t("pass.qrLabel", { what })),
      h("p", { class: "hint", text: t("pass.hint") }),
      h("p", {}, t("pass.typed"), " ", h("strong", { class: "code pass-code", text: grouped(pass) }))));
}
