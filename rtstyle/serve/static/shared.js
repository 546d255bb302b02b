// What the studio's features share: small DOM and timing helpers, and the events they talk through.
//
// Features never read each other's DOM or state: one announces a change on `document` and the
// others listen. The events (detail in brackets):
//   studio:info      the server's /api/info answer, or null when it cannot be read   [info | null]
//   studio:styles    the gallery's paintings, as /api/styles lists them           [[style, …]]
//   studio:style     the painting selected in the gallery                         [style]
//   studio:trained   a new live style is installed on the server                  [its name]
//   studio:settings  the photo panel's sliders                            [{strength, strokeSize, preserveColors}]
//   studio:photo     the current photo, the one "Your painting" repaints   [{file, url} | null]
//   studio:painting  the user's own painting, chosen in "Your painting"           [File]
//   studio:torch     the server turned out to have no PyTorch                     [null]

export const $ = (id) => document.getElementById(id);

/** Tells every feature that `name` happened (see the list above). */
export function announce(name, detail = null) {
  document.dispatchEvent(new CustomEvent(`studio:${name}`, { detail }));
}

/** Calls `fn(detail)` every time `name` is announced. */
export function listen(name, fn) {
  document.addEventListener(`studio:${name}`, (e) => fn(e.detail));
}

/** Calls `fn(info, torchMissing)` with the server's /api/info (studio:info) and again when a job
 *  finds PyTorch missing on the server (studio:torch). */
export function listenServer(fn) {
  let info = null;
  listen("info", (value) => {
    info = value;
    fn(info, info?.torch === false);
  });
  listen("torch", () => fn(info, true));
}

/** The next announcement of `name`, as a promise of its detail. */
export function next(name) {
  return new Promise((resolve) => document.addEventListener(`studio:${name}`, (e) => resolve(e.detail), { once: true }));
}

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("data-") || key.startsWith("aria-") || key === "role") node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children);
  return node;
}

export function fromTemplate(id) {
  return $(id).content.firstElementChild.cloneNode(true);
}

export function showError(target, err) {
  const line = typeof target === "string" ? $(target) : target;
  line.textContent = err ? (err.message || String(err)) : "";
}

export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new DOMException("aborted", "AbortError"));
    }, { once: true });
  });
}

export function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Runs at most `n` of the async tasks given to it at a time, the others in order after. */
export function limiter(n) {
  let active = 0;
  const waiting = [];
  const run = () => {
    while (active < n && waiting.length) {
      active += 1;
      waiting.shift()();
    }
  };
  return (task) => new Promise((resolve, reject) => {
    waiting.push(() => task().then(resolve, reject).finally(() => {
      active -= 1;
      run();
    }));
    run();
  });
}

export const stem = (name) => name.replace(/\.[^.]+$/, "") || "image";
export const megabytes = (bytes) => `${Math.round(bytes / 2 ** 20)} MB`; // as the server counts them

export function duration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  return s % 60 ? `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s` : `${s / 60} min`;
}

/** Why the server would refuse `file` (its upload limit from studio:info), or "". */
export function tooBig(file, info) {
  const limit = info?.limits?.upload_bytes;
  return limit && file.size > limit ? `${file.name} is ${megabytes(file.size)}; the server takes up to ${megabytes(limit)}.` : "";
}

/** The painting's title for a style or network name, from the list studio:styles announced. */
export function paintingTitle(styles, name) {
  const style = styles.find((s) => s.name === name || s.network === name);
  return style?.painting || name || "";
}

export function wireDrop(zoneId, onFiles) {
  const zone = $(zoneId);
  const input = zone.querySelector("input[type=file]");
  input.addEventListener("change", () => {
    onFiles([...input.files]);
    input.value = ""; // choosing the same file again is a new choice
  });
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    onFiles([...e.dataTransfer.files]);
  });
}
