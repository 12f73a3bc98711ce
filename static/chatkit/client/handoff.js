// The built-in client's live channel for the open thread: when a person
// from the team takes the conversation over (chatkit_app/handoff/), their
// replies appear in the chat as they send them, and a banner says who
// answers. The socket (chatkit_app/live/threads.py) is the owner's own:
// signed in with the page's session, origin-checked, one per open thread,
// reconnecting with backoff and catching up from the newest item shown.
//
// A person's reply is an assistant message whose first content part names
// them and carries an entity annotation marking it (`data.chatkit_person`):
// the official component shows that part as the reply's first line; here it
// becomes a badge above the text.
//
// Methods of BuiltInClient (client.js), which holds the state they share.

import { h } from "../dom.js";
import { LiveSocket } from "../live/socket.js";

export const PERSON_AUTHOR_KEY = "chatkit_person";
// A reply that arrives while the thread is still loading waits this long
// before it is tried again (the load may bring it too).
const RETRY_WHILE_LOADING_MS = 100;

function personOfPart(part) {
  for (const annotation of part?.annotations || []) {
    const source = annotation?.source;
    const name = source?.type === "entity" ? source.data?.[PERSON_AUTHOR_KEY] : null;
    if (typeof name === "string" && name) return name;
  }
  return "";
}

/** The name of the person who wrote an assistant message, or "". */
export function personAuthor(item) {
  if (item?.type !== "assistant_message") return "";
  for (const part of item.content || []) {
    const name = personOfPart(part);
    if (name) return name;
  }
  return "";
}

/** The parts of a message to show as its text (the person's header is a badge). */
export function shownParts(item) {
  return (item.content || []).filter((part) => !personOfPart(part));
}

export function personBadge(name) {
  return h(
    "p",
    { className: "ck-person" },
    h("strong", { className: "ck-person-name", text: name }),
    h("span", { className: "ck-person-label", text: " · a person from the team" }),
  );
}

function bannerText(event) {
  switch (event.state) {
    case "requested":
      return "A person from the team has been asked to join this conversation.";
    case "taken_over":
      return `${event.person || "A person"} from the team is answering in this conversation.`;
    default:
      return "";
  }
}

export const handoffMethods = {
  /** Listen to thread `threadId` (null: none), unless already listening. */
  followThread(threadId) {
    if ((threadId || null) === (this.liveThreadId || null)) return;
    this.liveSocket?.stop();
    this.liveSocket = null;
    this.liveThreadId = threadId || null;
    this.liveHandoff = null;
    this.showHandoff({ state: "" });
    if (!threadId || typeof WebSocket === "undefined") return;
    const socket = new LiveSocket(`/ws/chatkit/threads/${encodeURIComponent(threadId)}/`, {
      onEvent: (event) => {
        if (socket === this.liveSocket) this.onThreadEvent(event);
      },
      onState: (state) => {
        this.root.dataset.liveState = state;
      },
      position: () => {
        const after = this.newestItemId();
        return after ? { after_item: after } : {};
      },
    });
    this.liveSocket = socket;
    socket.start();
  },

  /** The newest item of the open thread the page has (shown or just loaded). */
  newestItemId() {
    const shown = [...this.items.keys()];
    if (shown.length) return shown[shown.length - 1];
    const loaded = this.thread?.id === this.liveThreadId ? this.thread?.items?.data || [] : [];
    return loaded.length ? loaded[loaded.length - 1].id : "";
  },

  onThreadEvent(event) {
    if (event.type === "handoff") this.showHandoff(event);
    else if (event.type === "item" && event.item) this.livePersonReply(event.item);
  },

  livePersonReply(item) {
    if (item.thread_id !== this.threadId || this.items.has(item.id)) return;
    if (this.scroller.getAttribute("aria-busy") === "true") {
      setTimeout(() => this.livePersonReply(item), RETRY_WHILE_LOADING_MS);
      return;
    }
    const follow = this.nearEnd();
    this.addItem(item, { done: true });
    this.scrollToEnd(follow);
  },

  showHandoff(event) {
    const previous = this.liveHandoff?.state || "";
    this.liveHandoff = event;
    if (!this.handoffBanner) {
      this.handoffBanner = h("p", { className: "ck-handoff-banner", role: "status", hidden: true });
      this.main.insertBefore(this.handoffBanner, this.composer);
    }
    // "The assistant is back" only to someone who saw the person answer.
    const text =
      bannerText(event) ||
      (event.state === "handed_back" && previous === "taken_over" ? "The assistant is answering again." : "");
    this.handoffBanner.textContent = text;
    this.handoffBanner.dataset.state = event.state || "";
    this.handoffBanner.hidden = !text;
  },
};
