// Photos: each dropped photo painted at its own size, before/after, strength, stroke size, colours.
// Announces its sliders (studio:settings) and the current photo (studio:photo).

import { isAbort, request } from "./api.js";
import {
  $, announce, debounce, fromTemplate, h, limiter, listen, paintingTitle, showError, sleep, stem, tooBig, wireDrop,
} from "./shared.js";

const REPAINT_DELAY_MS = 300; // a slider drag asks once it rests, not on every step
const STYLIZE_TIMEOUT_MS = 120_000;
const PARALLEL_PHOTOS = 2; // one uploads while the server's worker paints the other

let info = null;
let styles = [];
let style = null; // the gallery's selected style's name
let photos = []; // PhotoCard, in page order
let current = null; // the PhotoCard that "Your painting" repaints

// A photo chosen while the page loads is painted in the style the gallery selects.
const styleKnown = new Promise((resolve) => {
  listen("style", resolve);
  listen("styles", (list) => list.length || resolve()); // no gallery: the server says why
});

// The stroke-size slider is logarithmic: -2…2 → 0.25×…4× (rtstyle.strokes).
const strokeSize = () => Math.round(2 ** Number($("stroke-size").value) * 1000) / 1000;
const formatStroke = (size) => `${Number(size.toFixed(2))}×`;

const paintQueue = limiter(PARALLEL_PHOTOS);

function paintSettings() {
  return {
    style,
    strength: Number($("strength").value) / 100,
    strokeSize: strokeSize(),
    preserveColors: $("preserve-colors").checked,
  };
}

async function stylize(file, settings, signal) {
  const form = new FormData();
  form.append("image", file);
  form.append("style", settings.style);
  form.append("strength", String(settings.strength));
  form.append("preserve_colors", String(settings.preserveColors));
  form.append("stroke_size", String(settings.strokeSize));
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await request("POST", "/api/stylize", { form, as: "blob", signal, timeout: STYLIZE_TIMEOUT_MS });
    } catch (err) {
      // A full queue says when to come back; any other refusal is final.
      if (err.status !== 503 || !err.retryAfter || attempt >= 3) throw err;
      await sleep(err.retryAfter * 1000, signal);
    }
  }
}

class PhotoCard {
  constructor(file) {
    this.file = file;
    this.node = fromTemplate("photo-card");
    this.original = URL.createObjectURL(file);
    this.painted = null; // the blob URL of the latest result
    this.controller = null;
    const before = this.q("img.before");
    before.addEventListener("load", () => {
      const compare = this.q(".compare").style;
      compare.setProperty("--ratio", before.naturalWidth / before.naturalHeight);
      compare.setProperty("--natural", `${before.naturalWidth}px`);
    }, { once: true });
    before.src = this.original;
    before.alt = file.name;
    this.q(".file-name").textContent = file.name;
    this.q("input.split").addEventListener("input", (e) => {
      this.q(".compare").style.setProperty("--split", `${e.target.value}%`);
    });
    this.q("button.remove").addEventListener("click", () => this.remove());
    this.node.addEventListener("pointerdown", () => makeCurrent(this));
  }

  q(selector) {
    return this.node.querySelector(selector);
  }

  async paint() {
    this.controller?.abort();
    const controller = (this.controller = new AbortController());
    this.node.classList.add("busy");
    showError(this.q(".card-error"), "");
    await styleKnown;
    if (this.controller !== controller) return;
    const settings = paintSettings();
    try {
      const blob = await paintQueue(() => stylize(this.file, settings, controller.signal));
      this.show(blob, settings);
    } catch (err) {
      if (!isAbort(err)) showError(this.q(".card-error"), err);
    } finally {
      if (this.controller === controller) this.node.classList.remove("busy");
    }
  }

  show(blob, settings) {
    const previous = this.painted;
    this.painted = URL.createObjectURL(blob);
    let img = this.q("img.after");
    if (!img) {
      img = h("img", { className: "after", "data-testid": "result-image" });
      this.q(".after-wrap").append(img);
      this.node.classList.add("painted");
    }
    const title = paintingTitle(styles, settings.style);
    img.alt = `${this.file.name} painted in the style of ${title}`;
    img.src = this.painted;
    if (previous) img.addEventListener("load", () => URL.revokeObjectURL(previous), { once: true });
    const details = [title];
    if (settings.strength < 1) details.push(`${Math.round(settings.strength * 100)}%`);
    if (settings.preserveColors) details.push("photo's colours");
    if (settings.strokeSize !== 1) details.push(`strokes ${formatStroke(settings.strokeSize)}`);
    this.q(".card-style").textContent = details.join(" · ");
    const download = this.q("a.download");
    download.href = this.painted;
    download.download = `${stem(this.file.name)}-${settings.style}.png`;
    download.removeAttribute("aria-disabled");
  }

  remove() {
    this.controller?.abort();
    this.node.remove();
    URL.revokeObjectURL(this.original);
    if (this.painted) URL.revokeObjectURL(this.painted);
    photos = photos.filter((p) => p !== this);
    if (current === this) makeCurrent(photos[0] || null);
    $("photo-empty").hidden = photos.length > 0;
  }
}

function addPhotos(files) {
  showError("photo-error", "");
  const images = [...files].filter((f) => f.type.startsWith("image/") || /\.(jpe?g|png|webp|bmp|tiff?)$/i.test(f.name));
  if (!images.length) return showError("photo-error", "Those are not images: choose a JPEG, PNG or WebP photo.");
  const refused = images.map((f) => tooBig(f, info)).filter(Boolean);
  if (refused.length) showError("photo-error", refused[0]);
  for (const file of images.filter((f) => !tooBig(f, info))) {
    const card = new PhotoCard(file);
    photos.unshift(card);
    $("photo-results").prepend(card.node);
    makeCurrent(card);
    card.paint();
  }
  $("photo-empty").hidden = photos.length > 0;
}

const repaintSoon = debounce(() => photos.forEach((p) => p.paint()), REPAINT_DELAY_MS);

function makeCurrent(card) {
  if (current === card) return;
  current?.node.classList.remove("current");
  current = card;
  card?.node.classList.add("current");
  announce("photo", card ? { file: card.file, url: card.original } : null);
}

function announceSettings() {
  const { strength, strokeSize: size, preserveColors } = paintSettings();
  announce("settings", { strength, strokeSize: size, preserveColors });
}

function settingsChanged() {
  announceSettings();
  repaintSoon();
}

listen("info", (value) => { info = value; });
listen("styles", (list) => { styles = list; });
listen("style", (selected) => {
  style = selected.name;
  if (selected.chosen) repaintSoon();
});

wireDrop("photo-drop", addPhotos);
document.addEventListener("paste", (e) => {
  const files = [...(e.clipboardData?.files || [])].filter((f) => f.type.startsWith("image/"));
  if (files.length) addPhotos(files);
});
$("strength").addEventListener("input", (e) => {
  $("strength-value").textContent = `${e.target.value}%`;
  settingsChanged();
});
$("stroke-size").addEventListener("input", () => {
  $("stroke-size-value").textContent = formatStroke(strokeSize());
  settingsChanged();
});
$("preserve-colors").addEventListener("change", settingsChanged);
// The sliders as the browser restored them on a reload, once every feature listens.
document.addEventListener("DOMContentLoaded", announceSettings);
