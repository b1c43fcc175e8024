// The service's public HTTP API, as the page uses it. Every call answers {ok, status, body}.

const TOKEN_KEY = "digit-service.admin-token";

export function adminToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

// Every token field on the page shows the same value; it lives in this tab's sessionStorage only.
export function bindTokenInputs(inputs) {
  for (const input of inputs) {
    input.value = adminToken();
    input.addEventListener("input", () => {
      const value = input.value.trim();
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      else sessionStorage.removeItem(TOKEN_KEY);
      for (const other of inputs) if (other !== input) other.value = input.value;
    });
  }
}

async function call(url, init = {}) {
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    return { ok: false, status: 0, body: { detail: `the service did not answer (${error.message})` } };
  }
  let body = null;
  const type = response.headers.get("content-type") || "";
  if (type.includes("json")) {
    body = await response.json();
  } else {
    await response.arrayBuffer();
    body = { detail: `${response.status} ${response.statusText}` };
  }
  return { ok: response.ok, status: response.status, body };
}

// A readable sentence from an error body: FastAPI's `detail` is a string or a list of field errors.
export function errorText(result) {
  const detail = result.body && result.body.detail;
  if (Array.isArray(detail)) {
    return detail.map((item) => `${(item.loc || []).slice(1).join(".") || "request"}: ${item.msg}`).join("; ");
  }
  if (typeof detail === "string") return detail;
  return `the service answered ${result.status}`;
}

function adminHeaders(extra = {}) {
  const token = adminToken();
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

function single(blob, name = "drawing.png") {
  const form = new FormData();
  form.append("file", blob, name);
  return form;
}

export const api = {
  model: () => call("/model"),
  predict: (blob, name) => call("/predict?return_frame=true", { method: "POST", body: single(blob, name) }),
  predictMany(files) {
    const form = new FormData();
    for (const file of files) form.append("files", file, file.name || "image");
    return call("/predict?return_frame=true", { method: "POST", body: form });
  },
  explain(blob, name, target) {
    const query = new URLSearchParams({ scale: "8" });
    if (target !== "") query.set("target", target);
    return call(`/predict/explain?${query}`, { method: "POST", body: single(blob, name) });
  },
  jobs: () => call("/train?limit=20"),
  job: (id) => call(`/train/${encodeURIComponent(id)}`),
  startJob: (request) =>
    call("/train", {
      method: "POST",
      headers: adminHeaders({ "Content-Type": "application/json" }),
      body: JSON.stringify(request),
    }),
  cancelJob: (id) => call(`/train/${encodeURIComponent(id)}`, { method: "DELETE", headers: adminHeaders() }),
  models: () => call("/models"),
  activate: (id) => call(`/models/${encodeURIComponent(id)}/activate`, { method: "POST", headers: adminHeaders() }),
  weightsUrl: (id) => `/models/${encodeURIComponent(id)}/weights`,
};
