// The built-in chat client: what the page shows when the official
// <openai-chatkit> component cannot load (offline machines, strict networks,
// air-gapped deployments). Plain DOM, no dependencies. It speaks the ChatKit
// protocol to the same endpoint and honours the same options object.
//
// Nothing from the server (model output, thread titles, error messages) is
// ever parsed as HTML: text goes in through textContent, replies through the
// safe renderer in markdown.js.
//
// The client is one object, BuiltInClient, whose state is shared by all its
// parts (the open thread and its items, the streams running). This module
// builds it and holds what ties the parts together (the frame: header,
// theme, alerts; opening a thread); the parts are methods in client/, by
// concern, mixed into the class below:
//
//   client/thread-list.js       the conversation list: load, rename, delete
//   client/composer.js          the message box, pickers, files, dictation, send
//   client/menus.js             the composer's "@" (tags) and "/" (commands) menus
//   client/items.js             items drawn as DOM and updated as they stream
//   client/structured-input.js  questions the assistant asks, answered in a form
//   client/stream.js            running a stream and applying its events; client tools
//   client/actions.js           widget actions
//   client/handoff.js           the open thread's live channel: a person's replies, who answers

import { ChatKitApi } from "./api.js";
import { actionMethods } from "./client/actions.js";
import { composerMethods } from "./client/composer.js";
import { handoffMethods } from "./client/handoff.js";
import { HIDDEN_ITEMS, itemMethods } from "./client/items.js";
import { menuMethods } from "./client/menus.js";
import { streamMethods } from "./client/stream.js";
import { structuredInputMethods } from "./client/structured-input.js";
import { statusSentence, threadListMethods, threadTitle } from "./client/thread-list.js";
import { h, imageAllowed } from "./dom.js";
import { icon } from "./icons.js";
import { renderMarkdown } from "./markdown.js";

const ITEMS_PAGE = 30;
const SCHEME_KEY = "chatkit.colorScheme";
const RADII = { pill: "999px", round: "14px", soft: "8px", sharp: "0px" };

export class BuiltInClient {
  constructor(mount, config) {
    this.mount = mount;
    this.config = config;
    this.options = config.options;
    this.api = new ChatKitApi(config);
    this.threads = new Map(); // id -> thread metadata, in list order
    this.threadsAfter = null;
    this.threadId = null; // the open thread; null is the new-conversation view
    this.thread = null;
    this.items = new Map(); // id -> { item, node } of the open thread
    this.itemsAfter = null;
    this.viewStream = null; // the stream feeding the open thread, if any
    this.streams = new Set();
    this.loadToken = 0;
    this.renderQueue = new Set();
    this.build();
  }

  // --- building the interface ---------------------------------------------

  build() {
    const options = this.options;
    const history = options.history?.enabled !== false;
    this.root = h("div", {
      className: "ck-app",
      dataset: { layout: this.config.layout || "full", history: history ? "on" : "off" },
    });
    this.applyTheme(this.initialScheme());

    this.buildThreadList(history);

    this.title = h("h2", { className: "ck-title", text: "New conversation" });
    this.statusBadge = h("span", { className: "ck-status-badge", hidden: true });
    this.historyToggle = h("button", {
      type: "button",
      className: "ck-icon-button ck-history-toggle",
      ariaLabel: "Show conversations",
      ariaExpanded: "false",
      title: "Conversations",
      hidden: !history,
      on: { click: () => this.toggleHistory() },
    });
    this.historyToggle.append(icon("menu"));
    this.newButton = h("button", {
      type: "button",
      className: "ck-icon-button ck-new-thread-compact",
      ariaLabel: "New chat",
      title: "New chat",
      on: { click: () => this.newThread() },
    });
    this.newButton.append(icon("plus"));
    this.themeToggle = h("button", {
      type: "button",
      className: "ck-icon-button ck-theme-toggle",
      on: { click: () => this.toggleScheme() },
    });
    this.updateThemeToggle();
    const header = h(
      "header",
      { className: "ck-header" },
      this.historyToggle,
      h("div", { className: "ck-title-wrap" }, this.title, this.statusBadge),
      this.newButton,
      this.themeToggle,
    );

    this.earlier = h("button", {
      type: "button",
      className: "ck-link-button ck-earlier",
      text: "Show earlier messages",
      hidden: true,
      on: { click: () => this.loadEarlier() },
    });
    const prompts = (options.startScreen?.prompts || []).map((prompt) =>
      h("button", {
        type: "button",
        className: "ck-prompt",
        text: prompt.label || prompt.prompt,
        on: { click: () => this.send(typeof prompt.prompt === "string" ? prompt.prompt : prompt.label) },
      }),
    );
    this.startScreen = h(
      "div",
      { className: "ck-start" },
      h("p", { className: "ck-greeting", text: options.startScreen?.greeting || "What can I help with today?" }),
      h("div", { className: "ck-prompts" }, ...prompts),
    );
    this.itemList = h("ol", { className: "ck-items" });
    this.progress = h("p", { className: "ck-progress", hidden: true, role: "status" });
    this.scroller = h(
      "div",
      { className: "ck-scroll", role: "log", ariaLabel: "Messages" },
      this.earlier,
      this.startScreen,
      this.itemList,
      this.progress,
    );
    this.alerts = h("div", { className: "ck-alerts", role: "alert", ariaLive: "assertive" });

    this.buildComposer();
    const disclaimer = options.disclaimer?.text
      ? h("div", { className: "ck-disclaimer" }, renderMarkdown(options.disclaimer.text))
      : null;

    this.main = h("section", { className: "ck-main" }, header, this.scroller, this.alerts, this.composer, disclaimer);
    this.root.append(this.historyPanel, this.main);
    this.root.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.root.dataset.historyOpen === "true") {
        event.stopPropagation(); // close the drawer, not the dialog around it
        event.preventDefault();
        this.toggleHistory(false);
        this.historyToggle.focus();
      }
    });
    this.mount.replaceChildren(this.root);
  }

  async start() {
    if (this.config.threadUrl) {
      window.addEventListener("popstate", (event) => {
        const id = event.state?.chatkitThread;
        if (id) this.openThread(id, { push: false });
        else this.newThread({ push: false });
      });
    }
    const initial = this.options.initialThread;
    const loads = [];
    if (this.options.history?.enabled !== false) loads.push(this.loadThreads());
    if (initial) loads.push(this.openThread(initial, { push: false }));
    else this.newThread({ push: false });
    if (this.config.threadUrl) history.replaceState({ chatkitThread: initial || null }, "");
    await Promise.all(loads);
  }

  // --- theme ----------------------------------------------------------------

  initialScheme() {
    const saved = localStorage.getItem(SCHEME_KEY);
    if (saved === "light" || saved === "dark") return saved;
    const configured = this.options.theme?.colorScheme || "light";
    if (configured === "system") return matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
    return configured;
  }

  applyTheme(scheme) {
    const theme = this.options.theme || {};
    this.scheme = scheme;
    this.root.dataset.colorScheme = scheme;
    this.root.dataset.density = theme.density || "normal";
    const style = this.root.style;
    const accent = theme.color?.accent?.primary;
    if (accent) style.setProperty("--ck-accent", accent);
    if (theme.radius && RADII[theme.radius]) style.setProperty("--ck-radius", RADII[theme.radius]);
    if (theme.typography?.fontFamily) style.setProperty("--ck-font", theme.typography.fontFamily);
    if (theme.typography?.baseSize) style.setProperty("--ck-font-size", `${theme.typography.baseSize}px`);
    if (this.config.layout === "full") document.documentElement.dataset.colorScheme = scheme;
  }

  toggleScheme() {
    const next = this.scheme === "dark" ? "light" : "dark";
    localStorage.setItem(SCHEME_KEY, next);
    this.applyTheme(next);
    this.updateThemeToggle();
  }

  updateThemeToggle() {
    const dark = this.scheme === "dark";
    this.themeToggle.replaceChildren(icon(dark ? "sun" : "moon"));
    this.themeToggle.setAttribute("aria-label", dark ? "Use light theme" : "Use dark theme");
    this.themeToggle.title = dark ? "Light theme" : "Dark theme";
  }

  toggleHistory(open) {
    const show = open ?? this.root.dataset.historyOpen !== "true";
    this.root.dataset.historyOpen = String(show);
    this.historyToggle.setAttribute("aria-expanded", String(show));
    if (show) this.historyPanel.querySelector(".ck-thread-open, .ck-new-thread")?.focus();
  }

  // --- alerts -----------------------------------------------------------------

  showError(message, { retry = null } = {}) {
    const alert = h(
      "div",
      { className: "ck-alert ck-alert--error" },
      h("p", { text: message }),
      retry
        ? h("button", {
            type: "button",
            className: "ck-link-button",
            text: "Try again",
            on: {
              click: () => {
                alert.remove();
                retry();
              },
            },
          })
        : null,
      h("button", {
        type: "button",
        className: "ck-icon-button ck-dismiss",
        ariaLabel: "Dismiss",
        on: { click: () => alert.remove() },
      }, icon("x")),
    );
    this.alerts.append(alert);
    return alert;
  }

  showNotice(event) {
    const notice = h(
      "div",
      { className: `ck-alert ck-alert--${event.level || "info"}` },
      event.title ? h("strong", { text: event.title }) : null,
      h("div", { className: "ck-markdown" }, renderMarkdown(event.message || "")),
      h("button", {
        type: "button",
        className: "ck-icon-button ck-dismiss",
        ariaLabel: "Dismiss",
        on: { click: () => notice.remove() },
      }, icon("x")),
    );
    this.alerts.append(notice);
  }

  clearAlerts() {
    this.alerts.replaceChildren();
  }

  // --- the open thread --------------------------------------------------------

  followUrl(threadId, push) {
    if (!this.config.threadUrl || !push) return;
    const url = threadId ? this.config.threadUrl.replace("__thread_id__", encodeURIComponent(threadId)) : this.config.homeUrl;
    if (location.pathname !== url) history.pushState({ chatkitThread: threadId }, "", url);
  }

  /** Whether the open thread lets images from `url` load (its allowed_image_domains). */
  allowsImage(url) {
    return imageAllowed(url, this.thread?.allowed_image_domains);
  }

  setThread(thread) {
    this.thread = thread;
    this.title.textContent = threadTitle(thread);
    const sentence = statusSentence(thread?.status);
    this.statusBadge.hidden = !sentence;
    this.statusBadge.textContent = thread?.status?.type || "";
    this.statusBadge.title = sentence;
    this.updateComposer();
    this.followThread(thread?.id || null);
  }

  clearThreadView() {
    this.items.clear();
    this.itemList.replaceChildren();
    this.itemsAfter = null;
    this.earlier.hidden = true;
    this.progress.hidden = true;
    this.clearAlerts();
  }

  newThread({ push = true } = {}) {
    this.loadToken += 1;
    if (this.root.dataset.historyOpen === "true") this.toggleHistory(false);
    this.threadId = null;
    this.viewStream = null;
    this.clearThreadView();
    this.setThread(null);
    this.restoreComposerChoice([]);
    this.startScreen.hidden = false;
    this.markCurrentThread();
    this.followUrl(null, push);
    this.textarea.focus({ preventScroll: true });
  }

  async openThread(threadId, { push = true, follow = true } = {}) {
    const token = ++this.loadToken;
    if (this.viewStream?.following && this.viewStream.threadId !== threadId) this.viewStream.controller.abort();
    this.threadId = threadId;
    this.viewStream = [...this.streams].find((stream) => stream.threadId === threadId) || null;
    this.clearThreadView();
    this.startScreen.hidden = true;
    this.markCurrentThread();
    this.followUrl(threadId, push);
    this.scroller.setAttribute("aria-busy", "true");
    try {
      const thread = await this.api.request("threads.get_by_id", { thread_id: threadId });
      if (token !== this.loadToken) return;
      this.setThread(thread);
      if (this.threads.has(thread.id)) this.upsertThread(thread);
      let items = thread.items?.data || [];
      if (thread.items?.has_more) {
        // get_by_id returns the oldest items; a long thread opens at its end.
        const page = await this.api.request("items.list", { thread_id: threadId, order: "desc", limit: ITEMS_PAGE });
        if (token !== this.loadToken) return;
        items = page.data.reverse();
        this.itemsAfter = page.has_more ? page.after : null;
      }
      this.earlier.hidden = !this.itemsAfter;
      for (const item of items) this.addItem(item, { done: true });
      // Unless a reply is still being written there, with what the user picked.
      if (!this.viewStream) this.restoreComposerChoice(items);
      this.scrollToEnd(true);
      // A reply still being written (the page was reloaded): follow it.
      if (follow && !this.viewStream && thread.metadata?.answering) this.followReply(threadId);
    } catch (error) {
      if (token !== this.loadToken) return;
      if (error.status === 404) {
        this.forgetThread(threadId);
        this.newThread({ push: false });
        this.showError("That conversation does not exist (it may have been deleted).");
      } else {
        this.showError(`Could not open the conversation. ${error.message}`, {
          retry: () => this.openThread(threadId, { push: false }),
        });
      }
    } finally {
      if (token === this.loadToken) this.scroller.removeAttribute("aria-busy");
    }
  }

  async loadEarlier() {
    if (!this.threadId || !this.itemsAfter) return;
    const token = this.loadToken;
    this.earlier.disabled = true;
    try {
      const page = await this.api.request("items.list", {
        thread_id: this.threadId,
        order: "desc",
        limit: ITEMS_PAGE,
        after: this.itemsAfter,
      });
      if (token !== this.loadToken) return;
      const height = this.scroller.scrollHeight;
      const first = this.itemList.firstChild;
      for (const item of page.data.reverse()) {
        if (this.items.has(item.id) || HIDDEN_ITEMS.has(item.type)) continue;
        const node = this.renderItem(item, { done: true });
        this.items.set(item.id, { item, node });
        this.itemList.insertBefore(node, first);
      }
      this.itemsAfter = page.has_more ? page.after : null;
      this.earlier.hidden = !this.itemsAfter;
      this.supersedeQuestions();
      // Keep what the reader was looking at in place.
      this.scroller.scrollTop += this.scroller.scrollHeight - height;
    } catch (error) {
      this.showError(`Could not load earlier messages. ${error.message}`);
    } finally {
      this.earlier.disabled = false;
    }
  }

  // --- scrolling --------------------------------------------------------------

  nearEnd() {
    const { scrollTop, scrollHeight, clientHeight } = this.scroller;
    return scrollHeight - scrollTop - clientHeight < 80;
  }

  scrollToEnd(force) {
    if (force) this.scroller.scrollTop = this.scroller.scrollHeight;
  }
}

Object.assign(
  BuiltInClient.prototype,
  threadListMethods,
  composerMethods,
  menuMethods,
  itemMethods,
  structuredInputMethods,
  streamMethods,
  actionMethods,
  handoffMethods,
);

export function mountBuiltInClient(mount, config) {
  const client = new BuiltInClient(mount, config);
  client.start();
  return client;
}
