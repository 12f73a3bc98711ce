// The ChatKit protocol over fetch: one POST per request to the endpoint,
// answered with JSON or with server-sent events. Streams come back on a POST,
// so they are read with a ReadableStream reader (EventSource only does GET).

const NETWORK_MESSAGE = "Could not reach the server. Check your connection and try again.";

/** An error a person can read, with the endpoint's code when there is one. */
export class ChatKitError extends Error {
  constructor(message, { status = 0, code = "", allowRetry = false } = {}) {
    super(message);
    this.name = "ChatKitError";
    this.status = status;
    this.code = code;
    this.allowRetry = allowRetry;
  }
}

function readCookie(name) {
  for (const part of document.cookie ? document.cookie.split(";") : []) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

/**
 * A fetch that adds what the endpoint needs from a browser page: the CSRF
 * header (the session authenticates, so Django checks it) and the locale
 * the page shows, which the server hands to the responder.
 */
export function makeChatKitFetch(config) {
  return (input, init = {}) => {
    const headers = new Headers(init.headers || {});
    const token = readCookie(config.csrfCookieName) || config.csrfToken;
    if (token) headers.set(config.csrfHeaderName || "X-CSRFToken", token);
    if (config.options.locale) headers.set("X-ChatKit-Locale", config.options.locale);
    return fetch(input, { credentials: "same-origin", ...init, headers });
  };
}

/** A readable sentence for an HTTP failure, from the endpoint's JSON error. */
async function errorFromResponse(response) {
  let code = "";
  let message = "";
  try {
    const body = await response.json();
    code = body?.error?.code || "";
    message = body?.error?.message || "";
  } catch {
    // Not JSON (a proxy's error page): fall through to the generic text.
  }
  if (response.status === 401) {
    message = "You are signed out. Reload the page to sign in again.";
  } else if (response.status === 403 && code === "csrf_failed") {
    message = "Your session has changed. Reload the page and try again.";
  } else if (response.status === 404) {
    message = message || "That conversation does not exist.";
  } else if (response.status >= 500 && !message) {
    message = `The server had a problem (HTTP ${response.status}). Try again in a moment.`;
  }
  return new ChatKitError(message || `The request failed (HTTP ${response.status}).`, {
    status: response.status,
    code,
  });
}

export class ChatKitApi {
  constructor(config) {
    this.url = config.options.api.url;
    this.fetch = makeChatKitFetch(config);
  }

  async post(type, params, signal) {
    let response;
    try {
      response = await this.fetch(this.url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
        body: JSON.stringify({ type, params }),
        signal,
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ChatKitError(NETWORK_MESSAGE, { code: "network" });
    }
    if (!response.ok) throw await errorFromResponse(response);
    return response;
  }

  /** A non-streaming request: its JSON answer. */
  async request(type, params) {
    const response = await this.post(type, params);
    return response.json();
  }

  /**
   * A streaming request: calls onEvent for each event as it arrives.
   * Resolves when the stream ends; rejects with AbortError when `signal`
   * aborts (the server then keeps what was said so far).
   */
  async stream(type, params, { signal, onEvent }) {
    const response = await this.post(type, params, signal);
    const contentType = response.headers.get("Content-Type") || "";
    if (!contentType.startsWith("text/event-stream")) {
      // A JSON answer to a streaming request carries nothing to show.
      await response.text();
      return;
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    try {
      for (;;) {
        let chunk;
        try {
          chunk = await reader.read();
        } catch (error) {
          if (error.name === "AbortError") throw error;
          throw new ChatKitError("The connection dropped before the reply finished.", {
            code: "network",
            allowRetry: true,
          });
        }
        if (chunk.done) break;
        buffer += chunk.value.replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = parseBlock(block);
          if (event) onEvent(event);
        }
      }
      const last = parseBlock(buffer);
      if (last) onEvent(last);
    } finally {
      reader.releaseLock();
    }
  }
}

/** One SSE block's JSON payload (its `data:` lines joined), or null. */
export function parseBlock(block) {
  const data = block
    .split("\n")
    .filter((line) => line.startsWith("data:"))
    .map((line) => line.slice(5).replace(/^ /, ""))
    .join("\n");
  if (!data) return null;
  try {
    return JSON.parse(data);
  } catch {
    return null;
  }
}
