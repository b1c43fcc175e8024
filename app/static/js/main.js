// The page: tabs, the served model in the header, and each panel's module.

import { api, bindTokenInputs } from "./api.js";
import { setupDraw } from "./draw.js";
import { setupModels } from "./models.js";
import { percent } from "./result.js";
import { setupTrain } from "./train.js";
import { setupUpload } from "./upload.js";
import { setupWhy } from "./why.js";

const PANELS = ["draw", "upload", "why", "train", "models"];

async function showServedModel() {
  const serving = document.getElementById("serving");
  const result = await api.model();
  if (!result.ok) {
    serving.textContent = "No model is loaded yet.";
    return;
  }
  const model = result.body;
  const accuracy = typeof model.test_accuracy === "number" ? ` · ${percent(model.test_accuracy)} on MNIST test` : "";
  serving.textContent = `Serving ${model.id} (${model.architecture.name})${accuracy}`;
}

function setupTabs(panels) {
  const tabs = PANELS.map((name) => document.getElementById(`tab-${name}`));

  function show(name, focus = false) {
    PANELS.forEach((panel, index) => {
      const selected = panel === name;
      tabs[index].setAttribute("aria-selected", String(selected));
      tabs[index].tabIndex = selected ? 0 : -1;
      document.getElementById(`panel-${panel}`).hidden = !selected;
      if (selected && focus) tabs[index].focus();
    });
    if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
    const module = panels[name];
    if (module && module.shown) module.shown();
  }

  tabs.forEach((tab, index) => {
    tab.addEventListener("click", () => show(PANELS[index]));
    // Arrow keys move between tabs, as in the WAI-ARIA tabs pattern.
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (step) show(PANELS[(index + step + PANELS.length) % PANELS.length], true);
      if (event.key === "Home") show(PANELS[0], true);
      if (event.key === "End") show(PANELS[PANELS.length - 1], true);
    });
  });
  const initial = location.hash.slice(1);
  show(PANELS.includes(initial) ? initial : "draw");
  return show;
}

const panels = {};
const show = (name) => showPanel(name);
let showPanel = () => {};

bindTokenInputs([...document.querySelectorAll("input.token")]);
setupDraw();
setupUpload(show);
panels.why = setupWhy();
panels.train = setupTrain(showServedModel);
panels.models = setupModels(showServedModel);
showPanel = setupTabs(panels);
showServedModel();
