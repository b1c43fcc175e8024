// Why: the attribution overlay of the latest drawing or upload, from POST /predict/explain.

import { api, errorText } from "./api.js";
import { latestInput, onLatestInput } from "./state.js";

export function setupWhy() {
  const status = document.getElementById("why-status");
  const frame = document.getElementById("why-frame");
  const overlay = document.getElementById("why-overlay");
  const caption = document.getElementById("why-caption");
  const target = document.getElementById("why-target");
  const panel = document.getElementById("panel-why");
  let requested = 0;
  let explainedInput = null;

  async function explain() {
    const input = latestInput();
    if (!input) {
      status.textContent = "Draw a digit or upload an image first.";
      return;
    }
    const mine = (requested += 1);
    explainedInput = input;
    panel.setAttribute("aria-busy", "true");
    status.textContent = `Explaining ${input.label}…`;
    const result = await api.explain(input.blob, input.name, target.value);
    if (mine !== requested) return; // a newer explanation was asked for
    panel.setAttribute("aria-busy", "false");
    const body = result.body || {};
    status.classList.toggle("error", !result.ok);
    if (!result.ok || typeof body.digit !== "number") {
      status.textContent = result.ok ? body.reason || "No digit to explain." : errorText(result);
      frame.hidden = overlay.hidden = true;
      return;
    }
    status.textContent = `Explaining ${input.label}: the model reads ${body.digit} (${(body.confidence * 100).toFixed(1)}%).`;
    frame.src = `data:image/png;base64,${body.frame}`;
    overlay.src = `data:image/png;base64,${body.overlay}`;
    frame.hidden = overlay.hidden = false;
    caption.textContent = `What pushed towards ${body.target} (orange) and away from it (blue)`;
  }

  document.getElementById("why-run").addEventListener("click", explain);
  target.addEventListener("change", explain);
  // Opening the panel explains the newest input; newer input while it is open is explained too.
  onLatestInput(() => {
    if (!panel.hidden) explain();
  });
  return {
    shown() {
      if (latestInput() !== explainedInput) explain();
    },
  };
}
