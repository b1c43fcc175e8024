// Upload: file picker, camera, drag and drop, paste. One request for all the images, one card each.

import { api, errorText } from "./api.js";
import { renderCard } from "./result.js";
import { setLatestInput } from "./state.js";

// Phone cameras write files larger than the service's default 5 MB body limit; the service frames
// the digit from at most ~1000 px anyway, so such photos are re-encoded smaller before they leave.
const SHRINK_ABOVE_BYTES = 3 * 1024 * 1024;
const SHRINK_LONG_SIDE = 2048;

async function shrinkIfHuge(file) {
  if (file.size <= SHRINK_ABOVE_BYTES || !window.createImageBitmap) return file;
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, SHRINK_LONG_SIDE / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
    return new File([blob], file.name.replace(/\.[^.]*$/, "") + ".jpg", { type: "image/jpeg" });
  } catch {
    return file; // not decodable here: let the service say what is wrong with it
  }
}

export function setupUpload(showPanel) {
  const grid = document.getElementById("upload-grid");
  const status = document.getElementById("upload-status");
  const template = document.getElementById("card-template");
  const drop = document.getElementById("drop");
  let generation = 0;
  let thumbs = [];

  async function upload(fileList) {
    const files = [...fileList].filter((file) => file.size > 0 || file.type.startsWith("image/"));
    if (!files.length) return;
    showPanel("upload");
    const mine = (generation += 1);
    for (const url of thumbs) URL.revokeObjectURL(url);
    thumbs = files.map((file) => URL.createObjectURL(file));
    grid.setAttribute("aria-busy", "true");
    status.textContent = `Reading ${files.length} image${files.length > 1 ? "s" : ""}…`;
    const sent = await Promise.all(files.map(shrinkIfHuge));
    const result = await api.predictMany(sent);
    if (mine !== generation) return; // a newer upload replaced this one
    const body = result.body || {};
    // A batch answers one item per file: a prediction, or (per-item errors) an object with `detail`.
    const items = result.ok && Array.isArray(body.predictions) ? body.predictions : files.map(() => null);
    grid.replaceChildren(
      ...files.map((file, index) => {
        const card = template.content.firstElementChild.cloneNode(true);
        renderCard(card, items[index] || { detail: errorText(result) }, file, thumbs[index]);
        return card;
      }),
    );
    const read = items.filter((item) => item && typeof item.digit === "number").length;
    status.textContent = result.ok
      ? `${read} of ${files.length} image${files.length > 1 ? "s" : ""} read as a digit.`
      : `The service refused the upload: ${errorText(result)}`;
    status.classList.toggle("error", !result.ok);
    grid.setAttribute("aria-busy", "false");
    setLatestInput(sent[0], sent[0].name || "image", files[0].name || "the pasted image");
  }

  for (const id of ["files", "camera"]) {
    const input = document.getElementById(id);
    input.addEventListener("change", () => {
      upload(input.files);
      input.value = "";
    });
  }
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    upload(event.dataTransfer.files);
  });
  // Paste works from anywhere on the page, except into a text field.
  document.addEventListener("paste", (event) => {
    if (event.target instanceof HTMLInputElement && event.target.type !== "file") return;
    const files = [...(event.clipboardData ? event.clipboardData.files : [])].filter((f) => f.type.startsWith("image/"));
    if (!files.length) return;
    event.preventDefault();
    upload(files);
  });
}
