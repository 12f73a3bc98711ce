// The admin's "watch live" page for one conversation.
//
// Items arrive over the socket (live.consumers.ConversationConsumer): first the
// latest ones, then each new or changed item as it is saved, and replies
// word by word while they are written ("item.started", "item.delta").
// After a lost connection the page reconnects with the last sequence it
// saw and the server sends exactly what it missed.

import { setUpHandoff } from "./handoff.js";
import { el, itemElement, updateItem } from "./render.js";
import { LiveSocket, showState } from "./socket.js";

const config = JSON.parse(document.getElementById("ck-live-config").textContent);
const root = document.getElementById("ck-live");
const status = root.querySelector(".ck-live-status");
const list = root.querySelector(".ck-live-items");
const empty = root.querySelector(".ck-live-empty");
const earlier = root.querySelector(".ck-live-earlier");
const showHandoff = setUpHandoff(root);

// item id -> {node, sequence, parts: [{text, end} of each content part]}
const items = new Map();
let lastSequence = null;

function showConversation(conversation) {
  for (const field of ["owner", "status"]) {
    const node = root.querySelector(`[data-field="${field}"]`);
    if (node && conversation[field]) node.textContent = conversation[field];
  }
  const reason = root.querySelector('[data-field="status_reason"]');
  reason.textContent = conversation.status_reason ? `(${conversation.status_reason})` : "";
  if (conversation.title) {
    const heading = document.querySelector("#content h1");
    if (heading) heading.textContent = `Watching: ${conversation.title}`;
  }
}

function refreshEmpty() {
  empty.hidden = items.size > 0;
}

/** Put `node` where its sequence belongs (items being written go last). */
function place(node, sequence) {
  if (sequence) {
    for (const other of list.children) {
      const otherSequence = Number(other.dataset.sequence || Infinity);
      if (other !== node && otherSequence > sequence) {
        list.insertBefore(node, other);
        return;
      }
    }
  }
  if (node.parentNode !== list || sequence) list.append(node);
}

function entry(itemId, view) {
  let known = items.get(itemId);
  if (!known) {
    known = { node: itemElement(itemId, view), sequence: null, parts: [] };
    items.set(itemId, known);
  }
  return known;
}

function onItem(event) {
  const known = entry(event.item_id, event.view);
  known.sequence = event.sequence;
  known.parts = [];
  updateItem(known.node, { view: event.view, sequence: event.sequence, interrupted: event.interrupted });
  place(known.node, event.sequence);
  lastSequence = Math.max(lastSequence || 0, event.sequence);
  refreshEmpty();
}

function onStarted(event) {
  if (items.has(event.item_id) && items.get(event.item_id).sequence) return;
  const known = entry(event.item_id, event.view);
  updateItem(known.node, { view: event.view, writing: true });
  place(known.node, null);
  refreshEmpty();
}

function onDelta(event) {
  let known = items.get(event.item_id);
  if (known && known.sequence) return; // already saved: the final text is shown
  if (!known) {
    // Joined while the reply was being written: show it from here on.
    known = entry(event.item_id, { type: "assistant_message", label: "Assistant" });
    updateItem(known.node, { view: { type: "assistant_message", label: "Assistant" }, writing: true });
    place(known.node, null);
  }
  // Each content part: its text so far, and where that text ends in the
  // reply (deltas carry their offset), so repeats and gaps are told apart.
  const index = event.content_index || 0;
  const part = known.parts[index] || { text: event.offset > 0 ? "…" : "", end: event.offset };
  const end = event.offset + event.delta.length;
  if (end <= part.end) return; // shown already (a repeat after reconnecting)
  if (event.offset > part.end) part.text += "…"; // missed some while disconnected
  part.text += event.delta.slice(Math.max(0, part.end - event.offset));
  part.end = end;
  known.parts[index] = part;
  known.node.querySelector(".ck-live-text").textContent = known.parts
    .filter(Boolean)
    .map((each) => each.text)
    .join("\n\n");
  refreshEmpty();
}

function onRemoved(event) {
  const known = items.get(event.item_id);
  if (!known) return;
  known.node.remove();
  items.delete(event.item_id);
  refreshEmpty();
}

function onFeedback(event) {
  const known = items.get(event.item_id);
  if (!known) return;
  const line = known.node.querySelector(".ck-live-feedback");
  line.textContent = `Feedback from ${event.user}: ${event.feedback === "positive" ? "👍" : "👎"} ${event.feedback}`;
}

function onStreamEnded(event) {
  for (const known of items.values()) {
    if (known.sequence) continue;
    const header = known.node.querySelector("header");
    for (const mark of header.querySelectorAll(".ck-live-writing")) mark.remove();
    known.node.classList.remove("ck-live-in-progress");
    known.node.setAttribute("aria-busy", "false");
  }
  if (event.error) {
    list.append(el("li", { class: "ck-live-item ck-live-error", text: `The reply failed: ${event.error}` }));
  }
}

function onEvent(event) {
  switch (event.type) {
    case "conversation":
      showConversation(event.conversation);
      if (event.reset) {
        items.clear();
        list.replaceChildren();
        lastSequence = null;
      }
      break;
    case "caught_up":
      earlier.hidden = !event.earlier;
      lastSequence = Math.max(lastSequence || 0, event.last_sequence || 0);
      refreshEmpty();
      break;
    case "item":
      onItem(event);
      break;
    case "item.started":
      onStarted(event);
      break;
    case "item.delta":
      onDelta(event);
      break;
    case "item.removed":
      onRemoved(event);
      break;
    case "feedback":
      onFeedback(event);
      break;
    case "stream.ended":
      onStreamEnded(event);
      break;
    case "handoff":
      showHandoff(event);
      break;
  }
}

const socket = new LiveSocket(config.socketPath, {
  onEvent,
  onState: (state, detail) => showState(status, state, detail),
  position: () => (lastSequence === null ? {} : { after: lastSequence }),
});
showConversation(config.conversation);
socket.start();
// For tests and the curious: the page's socket.
window.chatkitLive = socket;
