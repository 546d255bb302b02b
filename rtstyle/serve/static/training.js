// Make it a live style: a real-time network of the user's painting (announced by painting.js),
// trained on the server from their videos or photos (a job).

import { startJob } from "./jobs.js";
import { $, listen, listenServer, showError, tooBig, wireDrop } from "./shared.js";

let info = null;
let noTorch = false;
let painting = null; // a File
let content = []; // Files the network learns from: videos and photos

function updateControls() {
  const train = $("train-start");
  train.disabled = noTorch || !painting || !content.length;
  train.textContent = noTorch ? "Make it a live style: needs pip install 'rtstyle[train]' on the server"
    : "Make it a live style";
}

function chooseContent(files) {
  showError("train-error", "");
  const usable = files.filter((f) => f.type.startsWith("video/") || f.type.startsWith("image/") || /\.(mp4|mov|mkv|webm|avi)$/i.test(f.name));
  const refusal = usable.map((f) => tooBig(f, info)).find(Boolean);
  if (refusal) return showError("train-error", refusal);
  content = usable;
  const videos = usable.filter((f) => !f.type.startsWith("image/")).length;
  const photos = usable.length - videos;
  $("train-content-note").textContent = [videos && `${videos} video${videos === 1 ? "" : "s"}`,
    photos && `${photos} photo${photos === 1 ? "" : "s"}`].filter(Boolean).join(" and ") || "a video of yours, or 50 photos or more";
  if (!videos && photos < 50) showError("train-error", `${photos} photo${photos === 1 ? "" : "s"}: it needs 50 or more, or a video.`);
  if (!painting) showError("train-error", "Now drop your painting above: it is the style the network learns.");
  updateControls();
}

async function makeLiveStyle() {
  showError("train-error", "");
  if (!painting || !content.length) return;
  const form = new FormData();
  form.append("painting", painting);
  for (const file of content) form.append("content", file);
  $("train-start").disabled = true;
  await startJob("/api/styles/train", form, { name: painting.name, kind: "train", errorLine: "train-error" });
  updateControls();
}

listenServer((value, torchMissing) => {
  info = value;
  noTorch = torchMissing;
  updateControls();
});
listen("painting", (file) => {
  painting = file;
  if (content.length) showError("train-error", "");
  updateControls();
});
wireDrop("train-drop", chooseContent);
$("train-start").addEventListener("click", makeLiveStyle);
