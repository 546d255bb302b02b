// Your painting: the current photo repainted in the user's own painting by optimisation (a job).
// Announces the painting (studio:painting) for training, and studio:torch when the server lacks PyTorch.

import { startJob } from "./jobs.js";
import { $, announce, h, listen, listenServer, showError, tooBig, wireDrop } from "./shared.js";

let info = null;
let noTorch = false;
let photo = null; // {file, url}: the photo panel's current photo
let painting = null; // a File

function updateControls() {
  $("torch-notice").hidden = !noTorch;
  $("painting-start").disabled = noTorch || !photo || !painting;
}

function showPhoto(current) {
  photo = current;
  const mini = $("painting-photo");
  mini.querySelector("img, span")?.remove();
  mini.prepend(photo ? h("img", { src: photo.url, alt: photo.file.name }) : h("span", {}, "no photo yet"));
  updateControls();
}

function choosePainting(file) {
  if (!file) return;
  showError("painting-error", "");
  if (!file.type.startsWith("image/")) return showError("painting-error", `${file.name} is not an image.`);
  const refusal = tooBig(file, info);
  if (refusal) return showError("painting-error", refusal);
  const mini = $("painting-style");
  if (painting) URL.revokeObjectURL(mini.querySelector("img").src);
  painting = file;
  mini.querySelector("img, span").remove();
  mini.prepend(h("img", { src: URL.createObjectURL(file), alt: file.name }));
  updateControls();
  announce("painting", file);
  if (!photo) {
    return showError("painting-error", "Add a photo in Photo to paint it with this painting, or make it a live style below.");
  }
  if (!$("painting-start").disabled) optimize();
}

async function optimize() {
  showError("painting-error", "");
  if (!photo || !painting) return;
  const form = new FormData();
  form.append("image", photo.file);
  form.append("painting", painting);
  form.append("steps", $("painting-steps").value);
  form.append("size", $("painting-size").value);
  $("painting-start").disabled = true;
  await startJob("/api/optimize", form, { name: photo.file.name, kind: "optimize", errorLine: "painting-error" });
  if (/torch/i.test($("painting-error").textContent)) announce("torch"); // say which extra brings it
  updateControls();
}

listenServer((value, torchMissing) => {
  info = value;
  noTorch = torchMissing;
  updateControls();
});
listen("photo", showPhoto);
wireDrop("painting-drop", (files) => choosePainting(files[0]));
$("painting-start").addEventListener("click", optimize);
