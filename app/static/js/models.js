// Models: the registry's versions, the live one marked; activate (roll back) and download.
// The registry's answer is read defensively: a list, or an object holding one under `models`/`items`.

import { api, errorText } from "./api.js";
import { percent } from "./result.js";

function modelsOf(body) {
  if (Array.isArray(body)) return body;
  if (body && Array.isArray(body.models)) return body.models;
  if (body && Array.isArray(body.items)) return body.items;
  return [];
}

function architectureName(model) {
  const arch = model.architecture;
  if (arch && typeof arch === "object") return arch.name || "?";
  return typeof arch === "string" ? arch : "?";
}

function isLive(model) {
  return model.live === true || model.active === true || model.serving === true;
}

export function setupModels(onModelChanged) {
  const status = document.getElementById("models-status");
  const tbody = document.querySelector("#models tbody");

  function say(message, isError = false) {
    status.textContent = message;
    status.classList.toggle("error", isError);
  }

  function row(model) {
    const tr = document.createElement("tr");
    const live = isLive(model);
    tr.classList.toggle("live", live);
    const name = document.createElement("td");
    name.textContent = String(model.id);
    if (live) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = "live";
      name.append(" ", badge);
    }
    const created = model.created ? new Date(model.created) : null;
    const cells = [
      architectureName(model),
      typeof model.test_accuracy === "number" ? percent(model.test_accuracy) : "–",
      created && !Number.isNaN(created.getTime()) ? created.toLocaleString() : model.created || "–",
    ].map((text) => {
      const cell = document.createElement("td");
      cell.textContent = text;
      return cell;
    });
    const actions = document.createElement("td");
    const activate = document.createElement("button");
    activate.type = "button";
    activate.textContent = live ? "Serving" : "Activate";
    activate.disabled = live;
    activate.setAttribute("aria-label", `${live ? "Serving" : "Activate"} model ${model.id}`);
    activate.addEventListener("click", async () => {
      activate.disabled = true;
      const result = await api.activate(model.id);
      if (!result.ok) {
        activate.disabled = false;
        say(result.status === 401 ? `Not allowed: ${errorText(result)}. Check the admin token.` : errorText(result), true);
        return;
      }
      onModelChanged();
      await refresh();
      say(`Now serving ${model.id}.`);
    });
    const download = document.createElement("a");
    download.href = api.weightsUrl(model.id);
    download.download = `${model.id}.zip`; // the weights and their JSON sidecar, as GET /models/{id}/weights answers
    download.textContent = "Download";
    download.setAttribute("aria-label", `Download model ${model.id} (weights and metadata, zip)`);
    actions.append(activate, " ", download);
    tr.append(name, ...cells, actions);
    return tr;
  }

  async function refresh() {
    const result = await api.models();
    if (result.status === 404) {
      tbody.replaceChildren();
      say("This server has no model registry (GET /models answered 404).", true);
      return;
    }
    if (!result.ok) {
      say(`Could not list models: ${errorText(result)}`, true);
      return;
    }
    const models = modelsOf(result.body);
    tbody.replaceChildren(...models.map(row));
    say(models.length ? `${models.length} model version${models.length > 1 ? "s" : ""}, newest first.` : "No models yet.");
  }

  return { shown: refresh };
}
