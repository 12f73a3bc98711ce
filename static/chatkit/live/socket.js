// A websocket to one of the live consumers that reconnects with backoff.
//
// Each (re)connection asks the page where it stopped (`position()` returns
// query parameters such as {after: 12}), so the server sends what was
// missed before live events. Close codes 4400-4499 are the server saying
// "never": not signed in, not allowed, no such conversation, whether at
// connecting or later (the server re-checks an open socket's watcher and
// closes it with 4401 or 4403 once they signed out or lost the right). The
// socket then stops and the page says why instead of retrying forever.

const REFUSALS = {
  4400: "The server did not understand where to resume from.",
  4401: "Your session has ended: sign in again and reload this page.",
  4403: "You are not allowed to watch conversations.",
  4404: "This conversation no longer exists.",
};

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;

export function socketUrl(path, params) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url = new URL(path, `${scheme}//${location.host}`);
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
  }
  return url.toString();
}

export class LiveSocket {
  /**
   * @param {string} path e.g. "/ws/chatkit/activity/"
   * @param {{onEvent: (event: object) => void, onState: (state: string, detail?: string) => void,
   *          position: () => object}} handlers
   */
  constructor(path, handlers) {
    this.path = path;
    this.handlers = handlers;
    this.delay = FIRST_DELAY_MS;
    this.stopped = false;
    this.timer = null;
    this.ws = null;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
  }

  open() {
    this.handlers.onState(this.ws ? "reconnecting" : "connecting");
    const ws = new WebSocket(socketUrl(this.path, this.handlers.position()));
    this.ws = ws;
    ws.addEventListener("message", (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (event.type === "caught_up") {
        // A connection that got this far is healthy: start backoff afresh.
        this.delay = FIRST_DELAY_MS;
        this.handlers.onState("live");
      }
      this.handlers.onEvent(event);
    });
    ws.addEventListener("close", (close) => {
      if (this.ws !== ws || this.stopped) return;
      const refusal = REFUSALS[close.code];
      if (refusal) {
        this.stopped = true;
        this.handlers.onState("refused", refusal);
        return;
      }
      // Jitter, so that a restarted server is not hit by every page at once.
      const wait = Math.round(this.delay * (0.75 + Math.random() / 2));
      this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
      this.handlers.onState("waiting", String(Math.max(1, Math.round(wait / 1000))));
      this.timer = setTimeout(() => this.open(), wait);
    });
  }
}

/** Show a socket state in the page's status line. */
export function showState(element, state, detail) {
  element.dataset.state = state;
  element.textContent = {
    connecting: "Connecting…",
    reconnecting: "Reconnecting…",
    live: "Live: new events appear as they happen.",
    waiting: `Connection lost; retrying in ${detail} s…`,
    refused: detail || "The server refused the connection.",
  }[state];
}
