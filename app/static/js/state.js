// The image the Why panel explains: the latest drawing or uploaded image.

const listeners = new Set();
let latest = null;

export function setLatestInput(blob, name, label) {
  latest = { blob, name, label };
  for (const listener of listeners) listener(latest);
}

export function latestInput() {
  return latest;
}

export function onLatestInput(listener) {
  listeners.add(listener);
}
