// Showing one answer of /predict: the digit, its confidence, ten bars and the frame the model saw.

import { errorText } from "./api.js";

function part(root, role) {
  return root.querySelector(`[data-role="${role}"]`);
}

export function percent(value) {
  return `${(value * 100).toFixed(value >= 0.995 || value < 0.1 ? 1 : 0)}%`;
}

// Fill ROOT with an empty answer panel (digit, confidence, reason, bars, frame).
export function createResult(root) {
  root.replaceChildren(document.getElementById("result-template").content.cloneNode(true));
  const bars = part(root, "bars");
  const barTemplate = document.getElementById("bar-template");
  for (let digit = 0; digit < 10; digit += 1) {
    const item = barTemplate.content.firstElementChild.cloneNode(true);
    item.querySelector(".bar-label").textContent = String(digit);
    bars.append(item);
  }
  clearResult(root, "Draw a digit to see what the model reads.");
}

function showFrame(img, frame) {
  if (frame) {
    img.src = `data:image/png;base64,${frame}`;
    img.hidden = false;
  } else {
    img.removeAttribute("src");
    img.hidden = true;
  }
}

function setBars(root, probabilities) {
  const items = part(root, "bars").children;
  const best = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : -1;
  for (let digit = 0; digit < items.length; digit += 1) {
    const value = probabilities ? probabilities[digit] : 0;
    items[digit].querySelector(".bar-fill").style.width = `${(value * 100).toFixed(1)}%`;
    items[digit].querySelector(".bar-value").textContent = probabilities ? value.toFixed(3) : "";
    items[digit].classList.toggle("best", digit === best);
  }
}

export function clearResult(root, message) {
  part(root, "digit").textContent = "–";
  part(root, "confidence").textContent = "";
  const reason = part(root, "reason");
  reason.textContent = message;
  reason.hidden = !message;
  setBars(root, null);
  showFrame(part(root, "frame"), null);
}

// RESULT is what api.predict answered: a prediction, a prediction with digit null and its reason, or an error.
export function renderResult(root, result) {
  const body = result.body || {};
  const digitKnown = result.ok && typeof body.digit === "number";
  part(root, "digit").textContent = digitKnown ? String(body.digit) : "?";
  part(root, "confidence").textContent = digitKnown ? `${percent(body.confidence)} sure` : "";
  const reason = part(root, "reason");
  reason.hidden = digitKnown;
  reason.textContent = digitKnown ? "" : body.reason || errorText(result);
  reason.classList.toggle("error", !result.ok);
  setBars(root, digitKnown ? body.probabilities : null);
  showFrame(part(root, "frame"), result.ok ? body.frame : null);
}

// One card of the upload grid. ITEM is a prediction, or an error object with only `detail`.
export function renderCard(card, item, file, thumbUrl) {
  part(card, "name").textContent = file.name || "pasted image";
  part(card, "thumb").src = thumbUrl;
  part(card, "thumb").alt = file.name || "pasted image";
  const digitKnown = item && typeof item.digit === "number";
  part(card, "digit").textContent = digitKnown ? String(item.digit) : "?";
  part(card, "confidence").textContent = digitKnown ? `${percent(item.confidence)} sure` : "";
  const reason = part(card, "reason");
  reason.hidden = digitKnown;
  reason.textContent = digitKnown ? "" : (item && (item.reason || item.detail)) || "no answer";
  reason.classList.toggle("error", !digitKnown && !(item && item.reason));
  showFrame(part(card, "frame"), item && item.frame);
}
