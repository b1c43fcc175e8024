// The drawing pad: pointer events (mouse, touch, pen), brush size, undo, clear, and a prediction
// that follows the drawing. At most one request is in flight; while it runs, further changes are
// collected and sent as one. Each answer carries the version of the drawing it read, and an answer
// for an older version than the one on screen is dropped, so a stale answer never overwrites a newer.

import { api } from "./api.js";
import { createResult, renderResult } from "./result.js";
import { setLatestInput } from "./state.js";

const MIN_INTERVAL_MS = 120; // between two requests while drawing
const PAPER = "#ffffff";
const INK = "#111111";

export function setupDraw() {
  const canvas = document.getElementById("pad");
  const context = canvas.getContext("2d");
  const brush = document.getElementById("brush");
  const brushSize = document.getElementById("brush-size");
  const resultRoot = document.getElementById("draw-result");
  createResult(resultRoot);

  const strokes = []; // each: {width, points: [[x, y], ...]}
  let current = null;
  let version = 0; // bumped on every change of the drawing
  let shownVersion = -1;
  let inFlight = false;
  let timer = null;
  let lastSentAt = -Infinity;
  let settled = false;

  function paper() {
    context.fillStyle = PAPER;
    context.fillRect(0, 0, canvas.width, canvas.height);
  }

  function drawStroke(stroke) {
    context.strokeStyle = INK;
    context.fillStyle = INK;
    context.lineWidth = stroke.width;
    context.lineCap = "round";
    context.lineJoin = "round";
    const [first, ...rest] = stroke.points;
    if (rest.length === 0) {
      context.beginPath();
      context.arc(first[0], first[1], stroke.width / 2, 0, 2 * Math.PI);
      context.fill();
      return;
    }
    context.beginPath();
    context.moveTo(first[0], first[1]);
    for (const [x, y] of rest) context.lineTo(x, y);
    context.stroke();
  }

  function redraw() {
    paper();
    for (const stroke of strokes) drawStroke(stroke);
  }

  function setBusy(busy) {
    resultRoot.setAttribute("aria-busy", busy ? "true" : "false");
  }

  // Synchronous on purpose: Chromium encodes toBlob() in idle time, which an idle page (the moment the
  // pen lifts) may not get for up to a second.
  function canvasBlob() {
    const bytes = atob(canvas.toDataURL("image/png").split(",", 2)[1]);
    const data = new Uint8Array(bytes.length);
    for (let i = 0; i < bytes.length; i += 1) data[i] = bytes.charCodeAt(i);
    return new Blob([data], { type: "image/png" });
  }

  async function send() {
    const sentVersion = version;
    inFlight = true;
    lastSentAt = performance.now();
    const blob = canvasBlob(); // the canvas as it is now: version sentVersion
    const result = await api.predict(blob, "drawing.png");
    inFlight = false;
    if (sentVersion > shownVersion) {
      shownVersion = sentVersion;
      renderResult(resultRoot, result);
      if (strokes.length) setLatestInput(blob, "drawing.png", "your drawing");
    }
    if (version !== sentVersion) schedule();
    else setBusy(false);
  }

  function schedule() {
    setBusy(true);
    if (inFlight) return; // send() schedules again when its answer is in
    // The interval spaces out requests while the pen moves; a finished stroke, undo or clear goes at once.
    const wait = settled ? 0 : Math.max(0, lastSentAt + MIN_INTERVAL_MS - performance.now());
    if (timer !== null) {
      if (wait > 0) return;
      clearTimeout(timer);
    }
    timer = setTimeout(() => {
      timer = null;
      settled = false;
      send();
    }, wait);
  }

  // SETTLED: the drawing is complete for now (pen up, undo, clear), so its answer should not wait.
  function changed(isSettled = false) {
    version += 1;
    settled = settled || isSettled;
    schedule();
  }

  function point(event) {
    const rect = canvas.getBoundingClientRect();
    return [
      ((event.clientX - rect.left) * canvas.width) / rect.width,
      ((event.clientY - rect.top) * canvas.height) / rect.height,
    ];
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    current = { width: Number(brush.value), points: [point(event)], pointerId: event.pointerId };
    strokes.push(current);
    drawStroke(current);
    changed();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!current || event.pointerId !== current.pointerId) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const each of events.length ? events : [event]) current.points.push(point(each));
    const tail = current.points.slice(-events.length - 1);
    drawStroke({ width: current.width, points: tail.length > 1 ? tail : current.points });
    changed();
  });
  function endStroke(event) {
    if (!current || event.pointerId !== current.pointerId) return;
    current = null;
    changed(true);
  }
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);

  brush.addEventListener("input", () => {
    brushSize.textContent = brush.value;
  });
  document.getElementById("undo").addEventListener("click", () => {
    if (!strokes.length) return;
    strokes.pop();
    redraw();
    changed(true);
  });
  // A cleared canvas is sent too: the service says why it reads no digit, rather than the page guessing.
  document.getElementById("clear").addEventListener("click", () => {
    strokes.length = 0;
    current = null;
    redraw();
    changed(true);
  });

  paper();
}
