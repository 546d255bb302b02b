// rtstyle studio: the page's features, one module each, over the server's JSON API (api.js).
//
// They talk through events on `document` (shared.js lists them); this module asks the server what
// it is (/api/info), shows that in the header and announces it, and the features take it from there.

import { request } from "./api.js";
import { $, announce, duration, listen, megabytes } from "./shared.js";
import "./gallery.js";
import "./photos.js";
import "./jobs.js";
import "./video.js";
import "./painting.js";
import "./training.js";

async function loadInfo() {
  const status = $("server-status");
  let info;
  try {
    info = await request("GET", "/api/info");
  } catch (err) {
    status.textContent = "server unreachable";
    status.classList.add("down");
    status.title = err.message;
    announce("info", null);
    return;
  }
  const provider = info.provider.replace("ExecutionProvider", "").replace("Tensorrt", "TensorRT");
  status.textContent = status.dataset.provider = provider;
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
  announce("info", info);
}

listen("styles", (styles) => {
  const status = $("server-status");
  if (status.dataset.provider) {
    status.textContent = `${status.dataset.provider} · ${styles.length} painting${styles.length === 1 ? "" : "s"}`;
  }
});

// A file dropped beside a drop zone would otherwise replace the page with the file.
for (const type of ["dragover", "drop"]) window.addEventListener(type, (e) => e.preventDefault());
loadInfo();
