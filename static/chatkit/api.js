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

function csrfHeaders(config, headers = new Headers()) {
  const token = readCookie(config.csrfCookieName) || config.csrfToken;
  if (token) headers.set(config.csrfHeaderName || "X-CSRFToken", token);
  return headers;
}

const MESSAGE_REQUESTS = new Set(["threads.create", "threads.add_user_message"]);

/**
 * A message body with `assistant` as its tool choice when the user picked
 * none: how a panel made for one assistant routes the official component's
 * messages (its composer has no "selected by default" tool).
 */
export function withAssistant(body, assistant) {
  if (!assistant || typeof body !== "string") return body;
  let request;
  try {
    request = JSON.parse(body);
  } catch {
    return body;
  }
  const input = request?.params?.input;
  if (!MESSAGE_REQUESTS.has(request?.type) || !input) return body;
  input.inference_options = input.inference_options || {};
  if (input.inference_options.tool_choice) return body;
  input.inference_options.tool_choice = { id: assistant };
  return JSON.stringify(request);
}

/**
 * A fetch that adds what the endpoint needs from a browser page: the CSRF
 * header (the session authenticates, so Django checks it) and the locale
 * the page shows, which the server hands to the responder. With
 * `assistant`, messages that name no assistant go to that one.
 */
export function makeChatKitFetch(config, { assistant = "" } = {}) {
  return (input, init = {}) => {
    const headers = csrfHeaders(config, new Headers(init.headers || {}));
    if (config.options.locale) headers.set("X-ChatKit-Locale", config.options.locale);
    const body = withAssistant(init.body, assistant);
    return fetch(input, { credentials: "same-origin", ...init, body, headers });
  };
}

/** The endpoint's JSON error from a response body, if it is one. */
function jsonError(text) {
  try {
    const error = JSON.parse(text)?.error;
    return error && typeof error.message === "string" ? error : null;
  } catch {
    return null;
  }
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
    this.config = config;
    this.url = config.options.api.url;
    this.fetch = makeChatKitFetch(config);
  }

  /**
   * Send a file to an attachment's upload descriptor (a signed link, so no
   * credentials are needed; the CSRF header is harmless). XMLHttpRequest,
   * because fetch cannot report upload progress. Resolves with the stored
   * attachment; rejects with a ChatKitError carrying the server's message,
   * or an AbortError when `signal` aborts.
   */
  upload(descriptor, file, { onProgress = () => {}, signal } = {}) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(descriptor.method || "POST", descriptor.url);
      xhr.withCredentials = true;
      for (const [name, value] of Object.entries(descriptor.headers || {})) xhr.setRequestHeader(name, value);
      for (const [name, value] of csrfHeaders(this.config)) xhr.setRequestHeader(name, value);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      });
      xhr.addEventListener("load", () => {
        const error = jsonError(xhr.responseText);
        if (xhr.status >= 200 && xhr.status < 300) {
          try {
            resolve(JSON.parse(xhr.responseText));
          } catch {
            reject(new ChatKitError("The server's answer to the upload was not understood.", { status: xhr.status }));
          }
          return;
        }
        const message = error?.message || `The upload failed (HTTP ${xhr.status}).`;
        reject(new ChatKitError(message, { status: xhr.status, code: error?.code || "" }));
      });
      xhr.addEventListener("error", () => reject(new ChatKitError(NETWORK_MESSAGE, { code: "network" })));
      xhr.addEventListener("abort", () => reject(new DOMException("The upload was cancelled.", "AbortError")));
      signal?.addEventListener("abort", () => xhr.abort());
      const form = new FormData();
      form.append("file", file, file.name);
      xhr.send(form);
    });
  }

  async post(type, params, signal) {
    let response;
    try {
      response = await this.fetch(this.url, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json, text/event-stream",
          // A reply goes on when this page goes away (a reload, a lost
          // network); the Stop button asks for a stop (stopReply).
          "X-ChatKit-Disconnect": "continue",
        },
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

  /**
   * The composer's "@" menu: the entities (tags) matching `query`, from the
   * site's tag search (`config.entitiesUrl`); none when tags are off.
   */
  async searchEntities(query, { signal } = {}) {
    if (!this.config.entitiesUrl) return [];
    const url = new URL(this.config.entitiesUrl, location.href);
    url.searchParams.set("q", query);
    let response;
    try {
      response = await this.fetch(url, { headers: { Accept: "application/json" }, signal });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ChatKitError(NETWORK_MESSAGE, { code: "network" });
    }
    if (!response.ok) throw await errorFromResponse(response);
    const body = await response.json();
    return Array.isArray(body?.data) ? body.data : [];
  }

  /** A non-streaming request: its JSON answer. */
  async request(type, params) {
    const response = await this.post(type, params);
    return response.json();
  }

  /** The URL of a thread's running reply: `…/threads/<id>/<what>`. */
  replyUrl(threadId, what) {
    return `${this.url.replace(/\/+$/, "")}/threads/${encodeURIComponent(threadId)}/${what}`;
  }

  /**
   * Stop the thread's reply being written (on whichever server writes it);
   * resolves once what it wrote is kept, marked interrupted.
   */
  async stopReply(threadId) {
    let response;
    try {
      response = await this.fetch(this.replyUrl(threadId, "stop"), {
        method: "POST",
        headers: { Accept: "application/json" },
      });
    } catch {
      throw new ChatKitError(NETWORK_MESSAGE, { code: "network" });
    }
    if (!response.ok) throw await errorFromResponse(response);
    return response.json();
  }

  /**
   * Follow the thread's reply being written: its events so far, then the
   * rest live, until it ends. Resolves false at once when none is running.
   */
  async followReply(threadId, { signal, onEvent }) {
    let response;
    try {
      response = await this.fetch(this.replyUrl(threadId, "stream"), {
        headers: { Accept: "text/event-stream" },
        signal,
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ChatKitError(NETWORK_MESSAGE, { code: "network" });
    }
    if (response.status === 204) return false;
    if (!response.ok) throw await errorFromResponse(response);
    await this.readEvents(response, onEvent);
    return true;
  }

  /**
   * A streaming request: calls onEvent for each event as it arrives.
   * Resolves when the stream ends; rejects with AbortError when `signal`
   * aborts.
   */
  async stream(type, params, { signal, onEvent }) {
    const response = await this.post(type, params, signal);
    await this.readEvents(response, onEvent);
  }

  /** The server-sent events of `response`, each handed to onEvent. */
  async readEvents(response, onEvent) {
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
