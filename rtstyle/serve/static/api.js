// The studio's one door to the server: requests with the token, the token form, job event streams.
//
// Requests go through XMLHttpRequest rather than fetch because a video upload needs upload
// progress, and one code path for every call keeps the 401 handling in one place.

const TOKEN_KEY = "rtstyle.token";
const TERMINAL = new Set(["done", "failed", "cancelled"]);
const MAX_STREAMS = 3; // browsers allow 6 connections per host over HTTP/1.1; event streams hold theirs

export class ApiError extends Error {
  constructor(status, message, retryAfter = 0) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

export const isTerminal = (job) => TERMINAL.has(job.state);
export const isAbort = (err) => err?.name === "AbortError";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

/** A URL that the browser loads by itself (img src, a href, EventSource): the token rides in the query. */
export function authorizedUrl(path) {
  const current = token();
  if (!current) return path;
  const url = new URL(path, location.href);
  url.searchParams.set("token", current);
  return url.pathname + url.search;
}

/**
 * One API call. `form`: a FormData body, or `json`: a value sent as JSON; `as`: "json" or "blob" for the
 * answer; `signal`: an AbortSignal; `onUpload(fraction)`: upload progress; `timeout`: milliseconds (0: none). Rejects with an ApiError
 * carrying the server's one-line message. On a 401 the token form is shown and the call retried.
 */
export async function request(method, path, options = {}) {
  for (;;) {
    const sentWith = token();
    try {
      return await send(method, path, sentWith, options);
    } catch (err) {
      if (err.status !== 401) throw err;
      if (token() === sentWith) await askForToken(sentWith !== ""); // another call may already have asked
    }
  }
}

function send(method, path, sentWith, { form = null, json, as = "json", signal, onUpload, timeout = 0 }) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new DOMException("aborted", "AbortError"));
    const xhr = new XMLHttpRequest();
    xhr.open(method, path);
    xhr.responseType = as === "blob" ? "blob" : "text";
    xhr.timeout = timeout;
    if (sentWith) xhr.setRequestHeader("Authorization", `Bearer ${sentWith}`);
    if (json !== undefined) xhr.setRequestHeader("Content-Type", "application/json");
    if (onUpload) xhr.upload.onprogress = (e) => e.lengthComputable && onUpload(e.loaded / e.total);
    xhr.onload = () => (xhr.status < 400 ? resolve(answer(xhr, as)) : errorOf(xhr).then(reject));
    xhr.onerror = () => reject(new ApiError(0, "The server cannot be reached."));
    xhr.ontimeout = () => reject(new ApiError(0, "The server took too long to answer; try again."));
    xhr.onabort = () => reject(new DOMException("aborted", "AbortError"));
    signal?.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(json !== undefined ? JSON.stringify(json) : form);
  });
}

function answer(xhr, as) {
  if (as === "blob") return xhr.response;
  return xhr.status === 204 || !xhr.responseText ? null : JSON.parse(xhr.responseText);
}

async function errorOf(xhr) {
  const body = xhr.responseType === "blob" ? await xhr.response.text() : xhr.responseText;
  let message;
  try {
    message = JSON.parse(body).error;
  } catch {
    message = null; // a proxy's HTML page or an empty body: say what the status means instead
  }
  message ||= `${xhr.status} ${xhr.statusText || "error"}`;
  return new ApiError(xhr.status, message, Number(xhr.getResponseHeader("Retry-After")) || 0);
}

// ---- the token form: one at a time, however many calls met a 401 together

let asking = null;

function askForToken(rejected) {
  asking ??= showTokenForm(rejected).finally(() => { asking = null; });
  return asking;
}

function showTokenForm(rejected) {
  const dialog = document.getElementById("token-dialog");
  const form = document.getElementById("token-form");
  const input = document.getElementById("token-input");
  document.getElementById("token-error").textContent = rejected ? "That token was not accepted." : "";
  input.value = "";
  return new Promise((resolve) => {
    form.addEventListener("submit", () => {
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      resolve();
    }, { once: true });
    dialog.addEventListener("cancel", (e) => e.preventDefault(), { once: true }); // nothing works without it
    dialog.showModal();
    input.focus();
  });
}

// ---- job event streams

const streams = { open: 0, waiting: [] };

/**
 * Calls `onJob(job)` with every change of job `id` until it ends (done, failed, cancelled) or `stop()`
 * is called; `onGone(err)` when the job cannot be read any more (removed, server gone).
 * At most MAX_STREAMS streams are open at once; the others wait for a free one.
 */
export function watchJob(id, onJob, onGone) {
  const watch = { stopped: false, source: null, slot: false };
  const stop = () => {
    watch.stopped = true;
    watch.source?.close();
    release(watch);
  };
  const open = () => {
    if (watch.stopped) return;
    watch.source = new EventSource(authorizedUrl(`/api/jobs/${encodeURIComponent(id)}/events`));
    watch.source.onmessage = (e) => {
      const job = JSON.parse(e.data);
      onJob(job);
      if (isTerminal(job)) stop(); // else EventSource reconnects to the finished stream forever
    };
    watch.source.onerror = () => {
      if (watch.source.readyState === EventSource.CLOSED && !watch.stopped) refused();
    };
  };
  // The stream was refused (a 401, 404 or 5xx): read the job once to learn why, and try again later.
  const refused = () => {
    request("GET", `/api/jobs/${encodeURIComponent(id)}`).then((job) => {
      onJob(job);
      if (isTerminal(job)) stop();
      else setTimeout(open, 2000);
    }, (err) => {
      stop();
      onGone(err);
    });
  };
  acquire(watch, open);
  return stop;
}

function acquire(watch, open) {
  if (streams.open < MAX_STREAMS) {
    streams.open += 1;
    watch.slot = true;
    open();
  } else {
    streams.waiting.push({ watch, open });
  }
}

function release(watch) {
  if (!watch.slot) {
    streams.waiting = streams.waiting.filter((w) => w.watch !== watch);
    return;
  }
  watch.slot = false;
  streams.open -= 1;
  const next = streams.waiting.shift();
  if (next) acquire(next.watch, next.open);
}
