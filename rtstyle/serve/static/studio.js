// rtstyle studio: the gallery, photos, videos and the user's own painting, over the server's JSON API.
//
// State lives in `state` and in the DOM that shows it; every server call goes through api.js.

import { authorizedUrl, isAbort, isTerminal, request, watchJob } from "./api.js";

const STYLE_KEY = "rtstyle.style";
const REPAINT_DELAY_MS = 300; // a slider drag asks once it rests, not on every step
const STYLIZE_TIMEOUT_MS = 120_000;
const PARALLEL_PHOTOS = 2; // one uploads while the server's worker paints the other

const $ = (id) => document.getElementById(id);

const state = {
  info: null,
  styles: [],
  style: null, // the selected style's name
  photos: [], // PhotoCard, in page order
  current: null, // the PhotoCard that "Your painting" repaints
  painting: null, // the user's painting, a File
  trainContent: [], // Files a new live style learns from: videos and photos
  jobs: new Map(), // job id -> JobRow
};

// ---- small helpers

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("data-") || key.startsWith("aria-") || key === "role") node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children);
  return node;
}

function fromTemplate(id) {
  return $(id).content.firstElementChild.cloneNode(true);
}

function showError(target, err) {
  const line = typeof target === "string" ? $(target) : target;
  line.textContent = err ? (err.message || String(err)) : "";
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new DOMException("aborted", "AbortError"));
    }, { once: true });
  });
}

function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Runs at most `n` of the async tasks given to it at a time, the others in order after. */
function limiter(n) {
  let active = 0;
  const waiting = [];
  const next = () => {
    while (active < n && waiting.length) {
      active += 1;
      waiting.shift()();
    }
  };
  return (task) => new Promise((resolve, reject) => {
    waiting.push(() => task().then(resolve, reject).finally(() => {
      active -= 1;
      next();
    }));
    next();
  });
}

const stem = (name) => name.replace(/\.[^.]+$/, "") || "image";
const megabytes = (bytes) => `${Math.round(bytes / 2 ** 20)} MB`; // as the server counts them

function duration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  return s % 60 ? `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s` : `${s / 60} min`;
}

function styleByName(name) {
  return state.styles.find((s) => s.name === name || s.network === name);
}

function paintingTitle(name) {
  return styleByName(name)?.painting || name || "";
}

function tooBig(file) {
  const limit = state.info?.limits?.upload_bytes;
  return limit && file.size > limit ? `${file.name} is ${megabytes(file.size)}; the server takes up to ${megabytes(limit)}.` : "";
}

// ---- server, gallery

async function loadInfo() {
  const status = $("server-status");
  try {
    state.info = await request("GET", "/api/info");
  } catch (err) {
    status.textContent = "server unreachable";
    status.classList.add("down");
    status.title = err.message;
    return;
  }
  const { info } = state;
  const provider = info.provider.replace("ExecutionProvider", "").replace("Tensorrt", "TensorRT");
  status.textContent = provider;
  status.title = info.provider;
  $("version").textContent = `rtstyle ${info.version}`;
  const limits = info.limits || {};
  for (const span of document.querySelectorAll(".limit[data-limit=image]")) {
    span.textContent = [limits.upload_bytes && `up to ${megabytes(limits.upload_bytes)}`,
      limits.image_pixels && `${Math.round(limits.image_pixels / 1e6)} MP`].filter(Boolean).join(", ");
  }
  for (const span of document.querySelectorAll(".limit[data-limit=video]")) {
    span.textContent = [limits.upload_bytes && `up to ${megabytes(limits.upload_bytes)}`,
      limits.video_seconds && `${duration(limits.video_seconds)}`].filter(Boolean).join(", ");
  }
  $("torch-notice").hidden = info.torch !== false;
  updatePaintingControls();
}

async function loadStyles() {
  const list = $("gallery-list");
  try {
    state.styles = await request("GET", "/api/styles");
  } catch (err) {
    showError("gallery-error", err);
    return;
  } finally {
    list.setAttribute("aria-busy", "false");
  }
  list.replaceChildren(...state.styles.map(styleCard));
  if (!state.styles.length) showError("gallery-error", "No styles are installed on the server.");
  const saved = localStorage.getItem(STYLE_KEY);
  const initial = styleByName(saved) || styleByName(state.info?.default_style) || state.styles[0];
  selectStyle(initial?.name, { repaint: false });
  const status = $("server-status");
  if (!status.classList.contains("down")) {
    status.textContent += ` · ${state.styles.length} painting${state.styles.length === 1 ? "" : "s"}`;
  }
}

function styleCard(style) {
  const thumb = h("img", { src: authorizedUrl(style.thumbnail), alt: "", loading: "lazy", decoding: "async" });
  const frame = h("span", { className: "thumb" }, thumb);
  // No picture of the painting (a test model, an own network): a colour of its own and its initial.
  frame.style.setProperty("--hue", [...style.name].reduce((sum, c) => sum + c.charCodeAt(0) * 37, 0) % 360);
  frame.dataset.initial = (style.painting || style.name).replace(/^the\s+/i, "").charAt(0).toUpperCase();
  thumb.addEventListener("error", () => frame.classList.add("missing"), { once: true });
  const byline = [style.artist, style.year].filter(Boolean).join(", ");
  const card = h("button", {
    type: "button", className: "style-card", role: "radio", "aria-checked": "false",
    "data-testid": "style-option", "data-style": style.name, title: `${style.painting || style.name} — ${byline}`,
  }, frame, h("span", { className: "style-meta" },
    h("strong", {}, style.painting || style.name), h("span", {}, byline)));
  card.addEventListener("click", () => selectStyle(style.name));
  return card;
}

function selectStyle(name, { repaint = true } = {}) {
  if (!name) return;
  state.style = name;
  localStorage.setItem(STYLE_KEY, name);
  for (const card of document.querySelectorAll("[data-testid=style-option]")) {
    card.setAttribute("aria-checked", String(card.dataset.style === name));
  }
  const style = styleByName(name);
  $("selected-style").textContent = style ? `Selected: ${style.painting || name}` : "";
  for (const label of document.querySelectorAll(".style-name")) label.textContent = style?.painting || name;
  if (repaint) repaintSoon();
}

// ---- photos

// The stroke-size slider is logarithmic: -2…2 → 0.25×…4× (rtstyle.strokes).
const strokeSize = () => Math.round(2 ** Number($("stroke-size").value) * 1000) / 1000;
const formatStroke = (size) => `${Number(size.toFixed(2))}×`;

const paintQueue = limiter(PARALLEL_PHOTOS);

function paintSettings() {
  return {
    style: state.style,
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
    await galleryLoaded; // a photo chosen while the page loads is painted in the style the gallery selects
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
    const title = paintingTitle(settings.style);
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
    state.photos = state.photos.filter((p) => p !== this);
    if (state.current === this) makeCurrent(state.photos[0] || null);
    $("photo-empty").hidden = state.photos.length > 0;
  }
}

function addPhotos(files) {
  showError("photo-error", "");
  const images = [...files].filter((f) => f.type.startsWith("image/") || /\.(jpe?g|png|webp|bmp|tiff?)$/i.test(f.name));
  if (!images.length) return showError("photo-error", "Those are not images: choose a JPEG, PNG or WebP photo.");
  const refused = images.map(tooBig).filter(Boolean);
  if (refused.length) showError("photo-error", refused[0]);
  for (const file of images.filter((f) => !tooBig(f))) {
    const card = new PhotoCard(file);
    state.photos.unshift(card);
    $("photo-results").prepend(card.node);
    makeCurrent(card);
    card.paint();
  }
  $("photo-empty").hidden = state.photos.length > 0;
}

const repaintSoon = debounce(() => state.photos.forEach((p) => p.paint()), REPAINT_DELAY_MS);

function makeCurrent(card) {
  if (state.current === card) return;
  state.current?.node.classList.remove("current");
  state.current = card;
  card?.node.classList.add("current");
  const mini = $("painting-photo");
  mini.querySelector("img, span")?.remove();
  mini.prepend(card ? h("img", { src: card.original, alt: card.file.name }) : h("span", {}, "no photo yet"));
  updatePaintingControls();
}

// ---- jobs (videos and optimisations)

class JobRow {
  constructor(list, name) {
    this.node = fromTemplate("job-row");
    this.job = null;
    this.stopWatching = null;
    this.ticker = 0;
    this.q(".job-name").textContent = name;
    this.q(".pill").textContent = "uploading";
    this.node.dataset.state = "uploading";
    this.q("button.cancel").addEventListener("click", () => this.cancel());
    this.q("button.remove").addEventListener("click", () => this.remove());
    list.querySelector(".empty")?.remove();
    this.list = list;
  }

  q(selector) {
    return this.node.querySelector(selector);
  }

  uploaded(fraction) {
    this.setBar(fraction);
    this.q(".job-stats").textContent = `uploading ${Math.round(fraction * 100)}%`;
  }

  setBar(fraction) {
    const bar = this.q(".bar");
    bar.classList.toggle("indeterminate", fraction == null);
    bar.style.setProperty("--done", `${Math.round((fraction ?? 0) * 1000) / 10}%`);
    if (fraction == null) bar.removeAttribute("aria-valuenow");
    else bar.setAttribute("aria-valuenow", String(Math.round(fraction * 100)));
  }

  /** Shows `job` (the server's job JSON): state, progress, actions and, once done, the result. */
  update(job) {
    this.job = job;
    state.jobs.set(job.id, this);
    Object.assign(this.node.dataset, { testid: "job-progress", state: job.state, jobId: job.id, kind: job.kind });
    const what = { optimize: "your painting", train: "live style" }[job.kind] || paintingTitle(job.style);
    this.q(".job-name").textContent = job.name || job.id;
    this.q(".job-name").title = job.name || "";
    this.q(".pill").textContent = what ? `${job.state} · ${what}` : job.state;
    const total = job.frames_total || 0;
    const starting = job.state === "running" && !job.frames_done; // no step counted yet: show it is alive
    this.setBar(job.state === "done" ? 1 : starting ? null : total ? job.frames_done / total : 0);
    this.q(".job-stats").textContent = jobStats(job);
    clearInterval(this.ticker); // events come on changes only: the waiting time is counted here
    if (starting) this.ticker = setInterval(() => { this.q(".job-stats").textContent = jobStats(this.job); }, 1000);
    showError(this.q(".job-error"), job.state === "failed" ? job.error || "The job failed." : "");
    this.q("button.cancel").hidden = isTerminal(job);
    this.q("button.remove").hidden = !isTerminal(job);
    const download = this.q("a.download");
    download.hidden = !(job.state === "done" && job.result);
    if (!download.hidden) {
      download.href = authorizedUrl(job.result);
      const extension = { optimize: "png", train: "onnx" }[job.kind] || "mp4";
      download.download = job.kind === "train" ? `${job.style}.onnx`
        : `${stem(job.name || job.id)}-${job.style || "painted"}.${extension}`;
      download.textContent = job.kind === "train" ? "Download the network" : `Download ${extension.toUpperCase()}`;
      if (job.kind === "optimize") this.showPicture(job);
      if (job.kind === "train") this.joinGallery(job);
    }
  }

  joinGallery(job) {
    if (this.joined) return;
    this.joined = true;
    if (state.styles.some((s) => s.name === job.style)) return; // listed already (a reload)
    loadStyles().then(() => selectStyle(job.style, { repaint: false }));
  }

  showPicture(job) {
    if (this.q("img.job-picture")) return;
    const img = h("img", { className: "job-picture", "data-testid": "result-image", alt: `${job.name} painted in your painting's style` });
    img.src = authorizedUrl(job.result);
    this.q(".job-head").after(h("figure", { className: "job-figure" }, img));
  }

  watch() {
    this.stopWatching?.();
    this.stopWatching = watchJob(this.job.id, (job) => this.update(job), (err) => this.gone(err));
  }

  async cancel() {
    const button = this.q("button.cancel");
    button.disabled = true;
    try {
      const job = await request("DELETE", `/api/jobs/${encodeURIComponent(this.job.id)}`);
      if (job) this.update(job);
    } catch (err) {
      showError(this.q(".job-error"), err);
    } finally {
      button.disabled = false;
    }
  }

  async remove() {
    try {
      await request("DELETE", `/api/jobs/${encodeURIComponent(this.job.id)}`);
    } catch (err) {
      if (err.status !== 404) return showError(this.q(".job-error"), err);
    }
    this.dispose();
  }

  gone(err) {
    if (err.status === 404) return this.dispose();
    showError(this.q(".job-error"), `Lost track of this job: ${err.message}`);
  }

  dispose() {
    this.stopWatching?.();
    clearInterval(this.ticker);
    this.node.remove();
    if (this.job) state.jobs.delete(this.job.id);
  }
}

function jobStats(job) {
  const unit = job.kind === "video" ? "frames" : "steps";
  const count = job.frames_total ? `${job.frames_done} / ${job.frames_total} ${unit}` : `${job.frames_done} ${unit}`;
  switch (job.state) {
    case "queued":
      return "waiting for its turn";
    case "running":
      if (!job.frames_done) return `starting · ${duration(Date.now() / 1000 - job.created)} since it was sent`;
      return [count, job.fps ? `${job.fps.toFixed(job.fps < 1 ? 2 : 1)} ${job.kind === "video" ? "fps" : "steps/s"}` : "",
        job.seconds_left != null ? `${duration(job.seconds_left)} left` : ""].filter(Boolean).join(" · ");
    case "done":
      if (job.kind === "train") return `${job.frames_total} steps · in the gallery as ${paintingTitle(job.style) || job.style}`;
      return job.kind === "optimize" ? `${job.frames_total} steps` : `${job.frames_total} frames, ready`;
    case "cancelled":
      return "cancelled";
    default:
      return "";
  }
}

function listFor(kind) {
  return $(kind === "video" ? "video-jobs" : "painting-jobs");
}

/** Sends a form that creates a job; the row shows the upload, then follows the job. */
async function startJob(path, form, { name, kind, errorLine }) {
  const row = new JobRow(listFor(kind), name);
  row.list.prepend(row.node);
  row.uploaded(0);
  try {
    const job = await request("POST", path, { form, onUpload: (f) => row.uploaded(f) });
    row.update(job);
    if (!isTerminal(job)) row.watch();
    return job;
  } catch (err) {
    row.dispose();
    showError(errorLine, err);
    return null;
  }
}

function sendVideos(files) {
  showError("video-error", "");
  for (const file of files) {
    const refusal = tooBig(file);
    if (refusal) {
      showError("video-error", refusal);
      continue;
    }
    const form = new FormData();
    form.append("video", file);
    form.append("style", state.style);
    form.append("stroke_size", String(strokeSize()));
    startJob("/api/jobs", form, { name: file.name, kind: "video", errorLine: "video-error" });
  }
}

async function loadJobs() {
  let jobs;
  try {
    jobs = await request("GET", "/api/jobs");
  } catch (err) {
    showError("video-error", `The earlier jobs cannot be listed: ${err.message}`);
    return;
  }
  for (const job of jobs) { // newest first, as the list shows them
    if (state.jobs.has(job.id)) continue;
    const row = new JobRow(listFor(job.kind), job.name || job.id);
    row.list.append(row.node);
    row.update(job);
    if (!isTerminal(job)) row.watch();
  }
}

// ---- your painting

function updatePaintingControls() {
  const cannot = state.info?.torch === false;
  $("painting-start").disabled = cannot || !state.current || !state.painting;
  const train = $("train-start");
  train.disabled = cannot || !state.painting || !state.trainContent.length;
  train.textContent = cannot ? "Make it a live style: needs pip install 'rtstyle[train]' on the server"
    : "Make it a live style";
}

function chooseTrainContent(files) {
  showError("train-error", "");
  const usable = files.filter((f) => f.type.startsWith("video/") || f.type.startsWith("image/") || /\.(mp4|mov|mkv|webm|avi)$/i.test(f.name));
  const refusal = usable.map(tooBig).find(Boolean);
  if (refusal) return showError("train-error", refusal);
  state.trainContent = usable;
  const videos = usable.filter((f) => !f.type.startsWith("image/")).length;
  const photos = usable.length - videos;
  $("train-content-note").textContent = [videos && `${videos} video${videos === 1 ? "" : "s"}`,
    photos && `${photos} photo${photos === 1 ? "" : "s"}`].filter(Boolean).join(" and ") || "a video of yours, or 50 photos or more";
  if (!videos && photos < 50) showError("train-error", `${photos} photo${photos === 1 ? "" : "s"}: it needs 50 or more, or a video.`);
  if (!state.painting) showError("train-error", "Now drop your painting above: it is the style the network learns.");
  updatePaintingControls();
}

async function makeLiveStyle() {
  showError("train-error", "");
  if (!state.painting || !state.trainContent.length) return;
  const form = new FormData();
  form.append("painting", state.painting);
  for (const file of state.trainContent) form.append("content", file);
  $("train-start").disabled = true;
  await startJob("/api/styles/train", form, { name: state.painting.name, kind: "train", errorLine: "train-error" });
  updatePaintingControls();
}

function choosePainting(file) {
  if (!file) return;
  showError("painting-error", "");
  if (!file.type.startsWith("image/")) return showError("painting-error", `${file.name} is not an image.`);
  const refusal = tooBig(file);
  if (refusal) return showError("painting-error", refusal);
  if (state.painting) URL.revokeObjectURL($("painting-style").querySelector("img").src);
  state.painting = file;
  const mini = $("painting-style");
  mini.querySelector("img, span").remove();
  mini.prepend(h("img", { src: URL.createObjectURL(file), alt: file.name }));
  updatePaintingControls();
  if (state.trainContent.length) showError("train-error", "");
  if (!state.current) {
    return showError("painting-error", "Add a photo in Photo to paint it with this painting, or make it a live style below.");
  }
  if (!$("painting-start").disabled) optimize();
}

async function optimize() {
  showError("painting-error", "");
  if (!state.current || !state.painting) return;
  const form = new FormData();
  form.append("image", state.current.file);
  form.append("painting", state.painting);
  form.append("steps", $("painting-steps").value);
  form.append("size", $("painting-size").value);
  const button = $("painting-start");
  button.disabled = true;
  await startJob("/api/optimize", form, { name: state.current.file.name, kind: "optimize", errorLine: "painting-error" });
  if (/torch/i.test($("painting-error").textContent)) { // the server has no PyTorch: say which extra brings it
    $("torch-notice").hidden = false;
    if (state.info) state.info.torch = false;
  }
  updatePaintingControls();
}

// ---- wiring

function wireDrop(zoneId, onFiles) {
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

function wire() {
  wireDrop("photo-drop", addPhotos);
  wireDrop("video-drop", sendVideos);
  wireDrop("painting-drop", (files) => choosePainting(files[0]));
  wireDrop("train-drop", chooseTrainContent);
  // A file dropped beside a drop zone would otherwise replace the page with the file.
  for (const type of ["dragover", "drop"]) window.addEventListener(type, (e) => e.preventDefault());
  document.addEventListener("paste", (e) => {
    const files = [...(e.clipboardData?.files || [])].filter((f) => f.type.startsWith("image/"));
    if (files.length) addPhotos(files);
  });
  $("strength").addEventListener("input", (e) => {
    $("strength-value").textContent = `${e.target.value}%`;
    repaintSoon();
  });
  $("stroke-size").addEventListener("input", () => {
    $("stroke-size-value").textContent = formatStroke(strokeSize());
    repaintSoon();
  });
  $("preserve-colors").addEventListener("change", repaintSoon);
  $("painting-start").addEventListener("click", optimize);
  $("train-start").addEventListener("click", makeLiveStyle);
}

wire();
const galleryLoaded = loadInfo().then(loadStyles);
galleryLoaded.then(loadJobs);
