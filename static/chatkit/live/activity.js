// The admin's live "recent activity" page: conversations started, model
// provider errors, feedback and conversations flagged for review, newest first.
//
// Every entry has a stable key, so an entry replayed after a reconnect
// (the page resumes from the newest time it saw) is shown once.

import { el, formatTime, link } from "./render.js";
import { LiveSocket, showState } from "./socket.js";

const config = JSON.parse(document.getElementById("ck-live-config").textContent);
const root = document.getElementById("ck-live");
const status = root.querySelector(".ck-live-status");
const list = root.querySelector(".ck-live-activity");
const empty = root.querySelector(".ck-live-empty");

const seen = new Set();
let newest = "";

function describe(event) {
  switch (event.kind) {
    case "conversation.created":
      return [`${event.user} started a conversation`, event.title ? `: ${event.title}` : ""];
    case "provider.error":
      return [
        `Model provider error for ${event.user}`,
        `: ${event.error} (${[event.provider, event.model, event.purpose].filter(Boolean).join(", ")})`,
      ];
    case "handoff.requested":
      return [`${event.user} asked for a person`, event.reason ? `: ${event.reason}` : ""];
    case "feedback":
      return [
        `${event.user} gave ${event.feedback === "positive" ? "👍" : "👎"} ${event.feedback} feedback`,
        "",
      ];
    case "conversation.flagged":
      return [
        `${event.user || "Staff"} flagged a conversation for review`,
        [event.title, event.reason].filter(Boolean).map((text) => `: ${text}`).join(""),
      ];
    default:
      return [event.kind, ""];
  }
}

function entry(event) {
  const [headline, detail] = describe(event);
  const node = el(
    "li",
    { class: `ck-live-entry ck-live-kind-${event.kind.replace(/[^a-z]/g, "-")}`, attrs: { "data-key": event.key } },
    el("time", { text: formatTime(event.at), attrs: { datetime: event.at } }),
    " ",
    el("strong", { text: headline }),
    el("span", { text: detail }),
  );
  if (event.conversation_url) {
    node.append(" · ", link(event.conversation_url, "conversation"));
    if (event.watch_url) node.append(" · ", link(event.watch_url, "watch live"));
  }
  return node;
}

function onEvent(event) {
  if (event.type === "caught_up") {
    empty.hidden = seen.size > 0;
    return;
  }
  if (event.type !== "activity" || seen.has(event.key)) return;
  seen.add(event.key);
  const node = entry(event);
  node.dataset.at = event.at;
  // Newest first: before the first entry that is older.
  const older = [...list.children].find((other) => other.dataset.at < event.at);
  list.insertBefore(node, older || null);
  if (event.at > newest) newest = event.at;
  empty.hidden = true;
}

const socket = new LiveSocket(config.socketPath, {
  onEvent,
  onState: (state, detail) => showState(status, state, detail),
  position: () => (newest ? { since: newest } : {}),
});
socket.start();
window.chatkitLive = socket;
