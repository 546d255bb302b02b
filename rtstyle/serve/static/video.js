// Video: each dropped video becomes a job on the server, in the gallery's painting and the photo
// panel's stroke size (both as announced).

import { startJob } from "./jobs.js";
import { listen, showError, tooBig, wireDrop } from "./shared.js";

let info = null;
let style = null;
let strokeSize = 1;

function sendVideos(files) {
  showError("video-error", "");
  for (const file of files) {
    const refusal = tooBig(file, info);
    if (refusal) {
      showError("video-error", refusal);
      continue;
    }
    const form = new FormData();
    form.append("video", file);
    form.append("style", style);
    form.append("stroke_size", String(strokeSize));
    startJob("/api/jobs", form, { name: file.name, kind: "video", errorLine: "video-error" });
  }
}

listen("info", (value) => { info = value; });
listen("settings", (settings) => { strokeSize = settings.strokeSize; });
listen("style", (selected) => {
  style = selected.name;
  for (const label of document.querySelectorAll("#video .style-name")) label.textContent = selected.painting || selected.name;
});
wireDrop("video-drop", sendVideos);
