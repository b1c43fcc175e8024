// Train: the job list, the form for a new job, live loss and accuracy curves, cancel.

import { adminToken, api, errorText } from "./api.js";
import { followEvents } from "./sse.js";
import { percent } from "./result.js";

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const STATUS_POLL_MS = 2000;

function cssColour(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// One uPlot chart of two series (train, validation) over epochs.
class EpochChart {
  constructor(root, label, scale) {
    this.root = root;
    this.label = label;
    this.scale = scale;
    this.data = [[], [], []];
    this.plot = null;
  }

  width() {
    return Math.max(260, Math.min(520, this.root.parentElement.clientWidth - 4));
  }

  build() {
    const uPlot = window.uPlot;
    const text = cssColour("--text");
    const grid = cssColour("--grid");
    const axis = { stroke: text, grid: { stroke: grid }, ticks: { stroke: grid } };
    this.plot = new uPlot(
      {
        width: this.width(),
        height: 200,
        scales: { x: { time: false }, y: this.scale },
        legend: { live: false },
        axes: [
          { ...axis, label: "epoch", incrs: [1, 2, 5, 10, 20, 50] }, // whole epochs only
          { ...axis, label: this.label, size: 56 },
        ],
        series: [
          { label: "epoch" },
          { label: `train ${this.label}`, stroke: cssColour("--series-train"), width: 2, points: { show: true, size: 7 } },
          { label: `val ${this.label}`, stroke: cssColour("--series-val"), width: 2, points: { show: true, size: 7 } },
        ],
      },
      this.data,
      this.root,
    );
  }

  set(history, trainKey, valKey) {
    this.data = [history.map((e) => e.epoch), history.map((e) => e[trainKey]), history.map((e) => e[valKey])];
    if (!this.plot) this.build();
    else this.plot.setData(this.data);
    this.root.dataset.points = String(history.length);
  }

  resize() {
    if (this.plot) this.plot.setSize({ width: this.width(), height: 200 });
  }
}

export function setupTrain(onModelChanged) {
  const form = document.getElementById("train-form");
  const status = document.getElementById("train-status");
  const title = document.getElementById("job-title");
  const progress = document.getElementById("job-progress");
  const cancel = document.getElementById("job-cancel");
  const tbody = document.querySelector("#jobs tbody");
  const loss = new EpochChart(document.getElementById("chart-loss"), "loss", { auto: true });
  const accuracy = new EpochChart(document.getElementById("chart-accuracy"), "accuracy", { auto: true });
  let shownJob = null;
  let history = [];
  let following = 0; // the follow loop that may still draw; older ones keep reading but stay silent

  function say(message, isError = false) {
    status.textContent = message;
    status.classList.toggle("error", isError);
    status.setAttribute("role", isError ? "alert" : "status");
  }

  function drawHistory() {
    loss.set(history, "train_loss", "val_loss");
    accuracy.set(history, "train_accuracy", "val_accuracy");
  }

  function showJob(job) {
    shownJob = job;
    title.textContent = `Job ${job.id.slice(0, 8)}: ${job.request.arch}, ${job.total_epochs} epoch${job.total_epochs > 1 ? "s" : ""}`;
    title.dataset.status = job.status;
    let text = `${job.status} · epoch ${job.current_epoch} of ${job.total_epochs}`;
    if (job.status === "succeeded") {
      text += ` · test accuracy ${percent(job.test_accuracy)} · model ${job.model_id}`;
      // Why it is not served: the request, or the quality gate (DIGITS_ACTIVATION_TOLERANCE).
      text += job.activated ? " (now serving)" : job.activation_note ? ` · ${job.activation_note}` : "";
    }
    if (job.error) text += ` · ${job.error}`;
    progress.textContent = text;
    progress.dataset.status = job.status;
    cancel.hidden = FINISHED.has(job.status);
    history = job.history.slice();
    document.getElementById("charts").hidden = false;
    drawHistory();
  }

  // The event stream carries epochs; queued -> running (and the first epoch can take a minute) is polled.
  async function watchStatus(id, mine) {
    while (mine === following && !FINISHED.has(shownJob.status)) {
      await new Promise((resolve) => setTimeout(resolve, STATUS_POLL_MS));
      if (mine !== following || FINISHED.has(shownJob.status)) return;
      const result = await api.job(id);
      if (result.ok && mine === following && !FINISHED.has(shownJob.status) && !FINISHED.has(result.body.status)) {
        const longer = history.length > result.body.history.length ? history : result.body.history;
        showJob({ ...result.body, current_epoch: longer.length, history: longer });
      }
    }
  }

  async function follow(job) {
    const mine = (following += 1);
    showJob(job);
    if (FINISHED.has(job.status)) return;
    watchStatus(job.id, mine);
    const failed = await followEvents(`/train/${encodeURIComponent(job.id)}/events`, (event) => {
      if (mine !== following) return event.event === "end";
      if (event.event === "epoch") {
        const epoch = JSON.parse(event.data);
        if (!history.some((e) => e.epoch === epoch.epoch)) history.push(epoch);
        shownJob.current_epoch = history.length;
        if (shownJob.status === "queued") shownJob.status = "running";
        showJob({ ...shownJob, history });
        return false;
      }
      if (event.event === "end") {
        showJob(JSON.parse(event.data));
        refreshJobs();
        if (shownJob.activated) onModelChanged();
        return true;
      }
      if (event.event === "shutdown") say("The server is shutting down; the job will be marked interrupted.", true);
      return false;
    });
    if (failed && mine === following) say(`Could not follow the job: ${failed.status}`, true);
  }

  async function refreshJobs() {
    const result = await api.jobs();
    if (!result.ok) {
      say(`Could not list jobs: ${errorText(result)}`, true);
      return [];
    }
    const jobs = result.body.jobs || [];
    tbody.replaceChildren(
      ...jobs.map((job) => {
        const row = document.createElement("tr");
        const cells = [
          job.id.slice(0, 8),
          `${job.request.arch} · ${job.request.train_limit ? `${job.request.train_limit} images` : "all images"}`,
          job.status,
          `${job.current_epoch} / ${job.total_epochs}`,
          job.test_accuracy == null ? "–" : percent(job.test_accuracy),
        ];
        for (const text of cells) {
          const cell = document.createElement("td");
          cell.textContent = text;
          row.append(cell);
        }
        const action = document.createElement("td");
        const view = document.createElement("button");
        view.type = "button";
        view.textContent = "Show";
        view.setAttribute("aria-label", `Show job ${job.id.slice(0, 8)}`);
        view.addEventListener("click", () => follow(job));
        action.append(view);
        row.append(action);
        return row;
      }),
    );
    return jobs;
  }

  function numberField(name) {
    const value = form.elements[name].value.trim();
    return value === "" ? undefined : Number(value);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!adminToken()) {
      say("Type the admin token first (DIGITS_ADMIN_TOKEN, or the state directory's admin-token file).", true);
      return;
    }
    const request = {
      arch: form.elements.arch.value,
      epochs: numberField("epochs"),
      learning_rate: numberField("learning_rate"),
      batch_size: numberField("batch_size"),
      seed: numberField("seed") ?? 0,
      train_limit: numberField("train_limit"),
      activate: form.elements.activate.checked,
      force_activate: form.elements.activate.checked && form.elements.force_activate.checked,
    };
    const button = document.getElementById("train-start");
    button.disabled = true;
    const result = await api.startJob(request);
    button.disabled = false;
    if (result.status === 401) {
      say(`Not allowed: ${errorText(result)}. Check the admin token.`, true);
      return;
    }
    if (result.status === 409) {
      say(`${errorText(result)}.`, true);
      return;
    }
    if (!result.ok) {
      say(`The job was not started: ${errorText(result)}`, true);
      return;
    }
    say(`Started job ${result.body.id.slice(0, 8)}.`);
    refreshJobs();
    follow(result.body);
  });

  cancel.addEventListener("click", async () => {
    if (!shownJob) return;
    cancel.disabled = true;
    const result = await api.cancelJob(shownJob.id);
    cancel.disabled = false;
    if (!result.ok) {
      say(result.status === 401 ? `Not allowed: ${errorText(result)}. Check the admin token.` : errorText(result), true);
      return;
    }
    say(`Cancelled job ${result.body.id.slice(0, 8)}.`);
    if (FINISHED.has(result.body.status)) showJob(result.body);
  });

  document.getElementById("jobs-refresh").addEventListener("click", refreshJobs);
  window.addEventListener("resize", () => {
    loss.resize();
    accuracy.resize();
  });

  let opened = false;
  return {
    async shown() {
      loss.resize();
      accuracy.resize();
      if (opened) return;
      opened = true;
      const jobs = await refreshJobs();
      const active = jobs.find((job) => !FINISHED.has(job.status));
      if (active && !shownJob) follow(active);
    },
  };
}
