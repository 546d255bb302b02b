// The Live panel: the browser's camera to the server over WebRTC, painted there, shown here.
//
// One RTCPeerConnection per start: the camera track goes out, the painted track comes back on the
// same transceiver, and a data channel carries the desktop window's keys, gallery clicks and pings.
// Every way it can fail ends in one line in #live-error and the panel back at "Start". The keys and
// their help come from the server (GET /api/live/keys, the window's own table); the painting from
// the gallery's studio:style announcement.

import { request } from "./api.js";
import { $, h, listen } from "./shared.js";

const ANSWER_TIMEOUT_MS = 15_000;
const FIRST_FRAME_TIMEOUT_MS = 20_000;
const DISCONNECTED_GRACE_MS = 3_000; // "disconnected" may heal; "failed" does not
const PING_MS = 1_000;
const CAMERA_FPS = 30;
// Send the server at most this many times the frames it can paint: the rest would only be encoded
// here and decoded there for nothing, on the same CPU that paints (see capFrameRate).
const SEND_HEADROOM = 1.5;
const NOTICE_MS = 6_000;

let session = null;
let style = null; // the gallery's selected painting
let keys = new Map(); // KeyboardEvent.key -> what it does: "send" (to the server), "snapshot", "hud"

class Session {
  constructor() {
    this.pc = null;
    this.channel = null;
    this.stream = null;
    this.timers = [];
    this.frames = 0;
    this.windowFrames = 0;
    this.windowStart = performance.now();
    this.fps = 0;
    this.rttMs = 0;
    this.holdMs = 0;
    this.inferMs = 0;
    this.browserMs = 0;
    this.sendFps = CAMERA_FPS;
    this.sender = null;
    this.look = null;
    this.closed = false;
  }

  async start(deviceId, [width, height]) {
    this.stream = await openCamera(deviceId, width, height);
    play($("live-original"), this.stream);
    this.pc = new RTCPeerConnection();
    this.channel = this.pc.createDataChannel("commands");
    this.channel.onmessage = (e) => this.onMessage(JSON.parse(e.data));
    this.channel.onclose = () => this.fail("The server closed the live session.");
    for (const track of this.stream.getVideoTracks()) this.sender = this.pc.addTrack(track, this.stream);
    this.pc.ontrack = (e) => play($("live-output"), new MediaStream([e.track]));
    this.pc.onconnectionstatechange = () => this.onState();
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await gathered(this.pc); // aiortc takes every candidate in the offer: no trickle ICE
    const answer = await postOffer(this.pc.localDescription, style);
    if (this.closed) return;
    await this.pc.setRemoteDescription(answer);
    this.later(FIRST_FRAME_TIMEOUT_MS, () => {
      if (!this.frames) this.fail("No painted frame came back from the server; try a smaller resolution.");
    });
    this.every(PING_MS, () => this.send({ type: "ping", t: performance.now() }));
    this.watchFrames();
  }

  watchFrames() {
    const video = $("live-output");
    if (!video.requestVideoFrameCallback) return;
    const onFrame = (now, meta) => {
      if (this.closed) return;
      this.frames += 1;
      this.windowFrames += 1;
      if (meta.receiveTime) this.browserMs = Math.max(0, meta.expectedDisplayTime - meta.receiveTime);
      const span = now - this.windowStart;
      if (span >= 1000) {
        this.fps = (this.windowFrames * 1000) / span;
        this.windowFrames = 0;
        this.windowStart = now;
      }
      if (this.frames === 1) setStatus("live");
      showHud(this);
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  get latencyMs() {
    return this.rttMs + this.holdMs + this.browserMs;
  }

  onMessage(message) {
    if (message.type === "pong") this.rttMs = performance.now() - message.t;
    else if (message.type === "stats") {
      Object.assign(this, { inferMs: message.infer_ms, holdMs: message.hold_ms });
      this.capFrameRate(message.infer_ms * (message.sessions || 1));
    }
    else if (message.type === "look") this.look = message;
    else if (message.type === "notice") this.notice(message.message);
    else if (message.type === "error") this.fail(message.message);
    showHud(this);
  }

  onState() {
    const state = this.pc?.connectionState;
    if (state === "failed") this.fail("The connection to the server was lost.");
    if (state === "disconnected") {
      this.later(DISCONNECTED_GRACE_MS, () => {
        if (this.pc?.connectionState === "disconnected") this.fail("The server stopped answering.");
      });
    }
  }

  // The camera runs at 30 fps; a CPU paints 8-15 frames a second and keeps only the newest. Frames
  // it cannot paint still cost a VP8 encode in the browser and a decode on the server, so the
  // sender is capped a little above the server's pace (per frame time across all its tabs).
  async capFrameRate(msPerPainting) {
    if (!this.sender || !(msPerPainting > 0)) return;
    const fps = Math.max(1, Math.min(CAMERA_FPS, Math.ceil((SEND_HEADROOM * 1000) / msPerPainting)));
    if (Math.abs(fps - this.sendFps) < 2) return;
    const params = this.sender.getParameters();
    if (!params.encodings?.length) return;
    params.encodings[0].maxFramerate = fps;
    this.sendFps = fps;
    await this.sender.setParameters(params).catch(() => {});
  }

  send(message) {
    if (this.channel?.readyState === "open") this.channel.send(JSON.stringify(message));
  }

  notice(message) {
    $("live-notice").textContent = message;
    clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => { $("live-notice").textContent = ""; }, NOTICE_MS);
  }

  later(ms, fn) { this.timers.push(setTimeout(fn, ms)); }

  every(ms, fn) { this.timers.push(setInterval(fn, ms)); }

  fail(message) {
    if (this.closed) return;
    stop();
    $("live-error").textContent = message;
  }

  close() {
    this.closed = true;
    clearTimeout(this.noticeTimer);
    $("live-notice").textContent = "";
    for (const timer of this.timers) { clearTimeout(timer); clearInterval(timer); }
    if (this.channel) this.channel.onclose = null;
    this.pc?.close();
    for (const track of this.stream?.getTracks() || []) track.stop();
    $("live-output").srcObject = null;
    $("live-original").srcObject = null;
  }
}

function play(video, stream) {
  video.srcObject = stream;
  video.play().catch(() => {}); // autoplay alone leaves a video that was hidden when it got its stream paused
}

async function openCamera(deviceId, width, height) {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error(window.isSecureContext ? "This browser cannot use a camera."
      : "The camera needs a secure page: open the studio at http://127.0.0.1 or over HTTPS.");
  }
  const video = { width: { ideal: width }, height: { ideal: height }, frameRate: { ideal: 30 } };
  if (deviceId) video.deviceId = { exact: deviceId };
  try {
    return await navigator.mediaDevices.getUserMedia({ video, audio: false });
  } catch (err) {
    const why = {
      NotAllowedError: "Camera permission was denied: allow the camera for this page and start again.",
      NotFoundError: "No camera was found on this computer.",
      OverconstrainedError: "That camera is not available any more; choose another.",
      NotReadableError: "The camera is in use by another program.",
    }[err.name];
    throw new Error(why || `The camera could not be opened (${err.message || err.name}).`);
  }
}

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, 3000); // send what was found so far
  });
}

function postOffer(offer, name) { // through api.js: a 401 shows the token form, as every call does
  return request("POST", "/api/live/offer",
    { json: { sdp: offer.sdp, type: offer.type, style: name }, timeout: ANSWER_TIMEOUT_MS });
}

// ---- the panel

function setStatus(text) {
  $("live-status").textContent = text;
  $("live-panel").dataset.state = text;
}

function showHud(s) {
  const output = $("live-output");
  output.dataset.frames = s.frames;
  output.dataset.fps = s.fps.toFixed(1);
  output.dataset.latencyMs = s.latencyMs.toFixed(0);
  output.dataset.latencyParts = [s.rttMs, s.holdMs, s.browserMs].map((ms) => ms.toFixed(0)).join("/");
  output.dataset.inferMs = s.inferMs.toFixed(0);
  output.dataset.sendFps = s.sendFps;
  if (s.look) output.dataset.style = s.look.style;
  const look = s.look ? [s.look.style, s.look.mode === "stylized" ? "" : s.look.mode,
    s.look.strength < 1 && s.look.mode !== "original" ? `strength ${Math.round(s.look.strength * 100)}%` : "",
    s.look.stroke_size && s.look.stroke_size !== 1 ? `strokes ${Number(s.look.stroke_size.toFixed(2))}×` : "",
    s.look.keep_colors ? "camera colours" : ""]
    .filter(Boolean).join(" · ") : "";
  $("live-look").textContent = look;
  $("live-stats").textContent = `${s.fps.toFixed(1)} fps · ${s.inferMs.toFixed(0)} ms inference · `
    + `${s.latencyMs.toFixed(0)} ms latency`;
}

async function start() {
  if (session) return;
  $("live-error").textContent = "";
  if (!window.RTCPeerConnection) {
    $("live-error").textContent = "This browser cannot do WebRTC, which the live camera needs.";
    return;
  }
  session = new Session();
  setStatus("starting…");
  $("live-start").disabled = true;
  $("live-stop").disabled = false;
  const size = $("live-size").value.split("x").map(Number);
  try {
    await session.start($("live-camera").value, size);
    listCameras();
  } catch (err) {
    session?.fail(err.message || String(err));
  }
}

function stop() {
  session?.close();
  session = null;
  setStatus("stopped");
  $("live-start").disabled = false;
  $("live-stop").disabled = true;
}

async function listCameras() {
  const select = $("live-camera");
  const devices = (await navigator.mediaDevices?.enumerateDevices?.()) || [];
  const cameras = devices.filter((d) => d.kind === "videoinput" && d.deviceId);
  if (!cameras.length) return;
  const chosen = select.value;
  select.replaceChildren(...cameras.map((d, i) => new Option(d.label || `camera ${i + 1}`, d.deviceId)));
  if (chosen) select.value = chosen;
}

function snapshot() {
  const video = $("live-output");
  if (!video.videoWidth) return;
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0);
  canvas.toBlob((blob) => {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `rtstyle-live-${session?.look?.style || "snapshot"}.png`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }, "image/png");
}

function onKey(e) {
  if (!session || e.ctrlKey || e.metaKey || e.altKey || e.target.closest("input, select, textarea")) return;
  const does = keys.get(e.key);
  if (does === "snapshot") snapshot();
  else if (does === "hud") $("live-hud").hidden = !$("live-hud").hidden;
  else if (does === "send") session.send({ type: "key", key: e.key });
  else return;
  e.preventDefault(); // space and the arrows would scroll the page
}

// The window's keys as GET /api/live/keys lists them, and their help under the panel's controls.
async function loadKeys() {
  let table;
  try {
    table = await request("GET", "/api/live/keys");
  } catch {
    return; // no live camera on this server: the offer will say why
  }
  keys = new Map(table.flatMap((entry) => entry.keys.map((key) => [key, entry.does])));
  const help = table.flatMap((entry, i) => [i ? " · " : "", ...keyLabel(entry.label), ` ${entry.words}`]);
  $("live-key-help").replaceChildren(...help);
  $("live-keys").hidden = false;
}

// "n/p <-/->" → n/p or ←/→ as <kbd>s; "1-9" → 1–9.
const SHOWN = { "<-": "←", "->": "→", "-": "−" };

function keyLabel(label) {
  const kbd = (key) => h("kbd", {}, SHOWN[key] || key);
  return label.split(" ").flatMap((alternative, i) => {
    const range = /^(\w)-(\w)$/.exec(alternative);
    const parts = range ? [kbd(range[1]), "–", kbd(range[2])]
      : alternative.split("/").flatMap((key, j) => (j ? ["/", kbd(key)] : [kbd(key)]));
    return i ? [" or ", ...parts] : parts;
  });
}

function wire() {
  $("live-start").addEventListener("click", start);
  $("live-stop").addEventListener("click", () => { $("live-error").textContent = ""; stop(); });
  $("live-show-original").addEventListener("change", (e) => { $("live-original").hidden = !e.target.checked; });
  document.addEventListener("keydown", onKey);
  listen("style", (selected) => {
    style = selected.name;
    if (selected.chosen) session?.send({ type: "style", name: selected.name });
  });
  loadKeys();
  window.addEventListener("pagehide", () => session?.close());
  listCameras().catch(() => {});
  setStatus("stopped");
}

wire();
