// The gallery: every installed painting as a card; the one selected is announced as studio:style.

import { authorizedUrl, request } from "./api.js";
import { $, announce, h, listen, showError } from "./shared.js";

const STYLE_KEY = "rtstyle.style";

let styles = [];
let defaultStyle = null;

const byName = (name) => styles.find((s) => s.name === name || s.network === name);

async function load() {
  const list = $("gallery-list");
  try {
    styles = await request("GET", "/api/styles");
  } catch (err) {
    showError("gallery-error", err);
    announce("styles", []);
    return;
  } finally {
    list.setAttribute("aria-busy", "false");
  }
  list.replaceChildren(...styles.map(card));
  if (!styles.length) showError("gallery-error", "No styles are installed on the server.");
  announce("styles", styles);
}

function card(style) {
  const thumb = h("img", { src: authorizedUrl(style.thumbnail), alt: "", loading: "lazy", decoding: "async" });
  const frame = h("span", { className: "thumb" }, thumb);
  // No picture of the painting (a test model, an own network): a colour of its own and its initial.
  frame.style.setProperty("--hue", [...style.name].reduce((sum, c) => sum + c.charCodeAt(0) * 37, 0) % 360);
  frame.dataset.initial = (style.painting || style.name).replace(/^the\s+/i, "").charAt(0).toUpperCase();
  thumb.addEventListener("error", () => frame.classList.add("missing"), { once: true });
  const byline = [style.artist, style.year].filter(Boolean).join(", ");
  const node = h("button", {
    type: "button", className: "style-card", role: "radio", "aria-checked": "false",
    "data-testid": "style-option", "data-style": style.name, title: `${style.painting || style.name} — ${byline}`,
  }, frame, h("span", { className: "style-meta" },
    h("strong", {}, style.painting || style.name), h("span", {}, byline)));
  node.addEventListener("click", () => select(style.name, { chosen: true }));
  return node;
}

/** Selects painting `name` and announces it; `chosen`: by the user (a click), not the page's own choice. */
function select(name, { chosen = false } = {}) {
  const style = byName(name);
  if (!style) return;
  localStorage.setItem(STYLE_KEY, style.name);
  for (const node of $("gallery-list").querySelectorAll("[data-testid=style-option]")) {
    node.setAttribute("aria-checked", String(node.dataset.style === style.name));
  }
  $("selected-style").textContent = `Selected: ${style.painting || style.name}`;
  announce("style", { ...style, chosen });
}

listen("info", async (info) => {
  defaultStyle = info?.default_style;
  await load();
  select((byName(localStorage.getItem(STYLE_KEY)) || byName(defaultStyle) || styles[0])?.name);
});

listen("trained", async (name) => {
  if (byName(name)) return; // listed already (a reload)
  await load();
  select(name);
});
