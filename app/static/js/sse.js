// Read a Server-Sent Events stream with fetch, to its natural end (no aborted requests), resuming
// from the last event id if the connection drops before the stream says it is over.

function parseEvent(block) {
  const event = { event: "message", id: null, data: [] };
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event.event = value;
    else if (field === "id") event.id = value;
    else if (field === "data") event.data.push(value);
  }
  return { ...event, data: event.data.join("\n") };
}

// Calls onEvent({event, id, data}) for each event; resolves when onEvent returns true (the last
// event) or when the server answers an error (resolved with that response).
export async function followEvents(url, onEvent, retryMs = 1000) {
  let lastId = null;
  for (;;) {
    const headers = lastId === null ? {} : { "Last-Event-ID": lastId };
    let response;
    try {
      response = await fetch(url, { headers, cache: "no-store" });
    } catch {
      await new Promise((resolve) => setTimeout(resolve, retryMs));
      continue;
    }
    if (!response.ok) return response;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let finished = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = parseEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (event.id !== null) lastId = event.id;
        if (event.data && onEvent(event)) finished = true;
      }
    }
    if (finished) return null;
    await new Promise((resolve) => setTimeout(resolve, retryMs));
  }
}
