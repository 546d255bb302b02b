// Jobs on the server (videos, optimisations, trainings): one row each, with live progress, cancel,
// download; the rows of earlier jobs come back after a reload. Video and "Your painting" start them
// with startJob; a finished training is announced as studio:trained.

import { authorizedUrl, isTerminal, request, watchJob } from "./api.js";
import { $, announce, duration, fromTemplate, h, listen, paintingTitle, showError, stem } from "./shared.js";

const rows = new Map(); // job id -> JobRow
let styles = [];

const RATE = { frames: "fps", steps: "steps/s" };

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
    rows.set(job.id, this);
    Object.assign(this.node.dataset, { testid: "job-progress", state: job.state, jobId: job.id, kind: job.kind });
    const what = { optimize: "your painting", train: "live style" }[job.kind] || paintingTitle(styles, job.style);
    this.q(".job-name").textContent = job.name || job.id;
    this.q(".job-name").title = job.name || "";
    this.q(".pill").textContent = what ? `${job.state} · ${what}` : job.state;
    const { done, total } = job.progress;
    const starting = job.state === "running" && !done; // nothing counted yet: show it is alive
    this.setBar(job.state === "done" ? 1 : starting ? null : total ? done / total : 0);
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
      if (job.kind === "train" && !this.announced) {
        this.announced = true;
        announce("trained", job.style);
      }
    }
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
    if (this.job) rows.delete(this.job.id);
  }
}

/** The row's line under the bar, from the job's `progress` ({done, total, unit, per_second}). */
function jobStats(job) {
  const { done, total, unit, per_second: rate } = job.progress;
  switch (job.state) {
    case "queued":
      return "waiting for its turn";
    case "running":
      if (!done) return `starting · ${duration(Date.now() / 1000 - job.created)} since it was sent`;
      return [total ? `${done} / ${total} ${unit}` : `${done} ${unit}`,
        rate ? `${rate.toFixed(rate < 1 ? 2 : 1)} ${RATE[unit] || `${unit}/s`}` : "",
        job.seconds_left != null ? `${duration(job.seconds_left)} left` : ""].filter(Boolean).join(" · ");
    case "done":
      if (job.kind === "train") return `${total} ${unit} · in the gallery as ${paintingTitle(styles, job.style) || job.style}`;
      return job.kind === "video" ? `${total} ${unit}, ready` : `${total} ${unit}`;
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
export async function startJob(path, form, { name, kind, errorLine }) {
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

async function loadJobs() {
  let jobs;
  try {
    jobs = await request("GET", "/api/jobs");
  } catch (err) {
    showError("video-error", `The earlier jobs cannot be listed: ${err.message}`);
    return;
  }
  for (const job of jobs) { // newest first, as the list shows them
    if (rows.has(job.id)) continue;
    const row = new JobRow(listFor(job.kind), job.name || job.id);
    row.list.append(row.node);
    row.update(job);
    if (!isTerminal(job)) row.watch();
  }
}

let listed = false;
listen("styles", (list) => {
  styles = list;
  for (const row of rows.values()) if (row.job) row.update(row.job); // the paintings' titles
  if (!listed) { // after the gallery, as a user reads the page
    listed = true;
    loadJobs();
  }
});
