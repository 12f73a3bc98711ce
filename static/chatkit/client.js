// The built-in chat client: what the page shows when the official
// <openai-chatkit> component cannot load (offline machines, strict networks,
// air-gapped deployments). Plain DOM, no dependencies. It speaks the ChatKit
// protocol to the same endpoint and honours the same options object.
//
// Nothing from the server (model output, thread titles, error messages) is
// ever parsed as HTML: text goes in through textContent, replies through the
// safe renderer in markdown.js.

import { ChatKitApi, ChatKitError } from "./api.js";
import { AttachmentTray, renderAttachments } from "./attachments.js";
import { Dictation } from "./dictation.js";
import { h } from "./dom.js";
import { icon } from "./icons.js";
import { renderMarkdown } from "./markdown.js";
import { renderWidget } from "./widgets.js";

const THREADS_PAGE = 20;
const ITEMS_PAGE = 30;
const HIDDEN_ITEMS = new Set(["hidden_context_item", "sdk_hidden_context", "end_of_turn"]);
const SCHEME_KEY = "chatkit.colorScheme";
const RADII = { pill: "999px", round: "14px", soft: "8px", sharp: "0px" };
const STREAM_ERROR_MESSAGE = "Something went wrong while writing the reply.";

function threadTitle(thread) {
  return (thread && thread.title) || "New conversation";
}

function statusSentence(status) {
  if (!status || status.type === "active") return "";
  const what = status.type === "locked" ? "locked" : "closed";
  return status.reason ? `This conversation is ${what}: ${status.reason}` : `This conversation is ${what}.`;
}

function userText(item) {
  return (item.content || [])
    .map((part) => part.text || "")
    .join(" ")
    .trim();
}

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

    this.threadList = h("ul", { className: "ck-thread-list", ariaLabel: "Conversations" });
    this.moreThreads = h("button", {
      type: "button",
      className: "ck-link-button ck-more-threads",
      text: "Show more",
      hidden: true,
      on: { click: () => this.loadThreads({ more: true }) },
    });
    this.noThreads = h("p", { className: "ck-muted ck-no-threads", text: "No conversations yet.", hidden: true });
    this.historyPanel = h(
      "nav",
      { className: "ck-history", ariaLabel: "Conversation history", hidden: !history },
      h(
        "div",
        { className: "ck-history-head" },
        h("h2", { text: "Conversations" }),
        h("button", {
          type: "button",
          className: "ck-button ck-new-thread",
          text: "New chat",
          on: { click: () => this.newThread() },
        }),
        h(
          "button",
          {
            type: "button",
            className: "ck-icon-button ck-history-close",
            ariaLabel: "Hide conversations",
            title: "Hide conversations",
            on: { click: () => this.toggleHistory(false) },
          },
          icon("x"),
        ),
      ),
      this.threadList,
      this.noThreads,
      this.moreThreads,
    );

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

    this.textarea = h("textarea", {
      className: "ck-input",
      rows: 1,
      placeholder: options.composer?.placeholder || "Message the assistant",
      ariaLabel: "Message",
      on: {
        keydown: (event) => {
          if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
            event.preventDefault();
            this.composer.requestSubmit();
          }
        },
        input: () => this.autosize(),
        paste: (event) => {
          const files = [...(event.clipboardData?.files || [])];
          if (this.tray && files.length) {
            event.preventDefault();
            this.tray.add(files);
          }
        },
      },
    });
    const models = options.composer?.models || [];
    this.modelSelect =
      models.length > 1
        ? h(
            "select",
            { className: "ck-model", ariaLabel: "Model" },
            ...models.map((model) =>
              h("option", { value: model.id, text: model.label || model.id, selected: Boolean(model.default), disabled: Boolean(model.disabled) }),
            ),
          )
        : null;
    const assistants = this.config.assistants || [];
    this.assistantSelect =
      assistants.length > 1
        ? h(
            "select",
            { className: "ck-assistant", ariaLabel: "Assistant", title: "Who answers" },
            ...assistants.map((assistant) =>
              h("option", {
                value: assistant.id,
                text: assistant.label || assistant.id,
                title: assistant.description || null,
                selected: assistant.id === (this.config.assistant || assistants[0].id),
              }),
            ),
          )
        : null;
    this.buildAttachments();
    this.buildDictation();
    this.sendButton = h("button", { type: "submit", className: "ck-button ck-send", text: "Send" });
    this.stopButton = h("button", {
      type: "button",
      className: "ck-button ck-stop",
      text: "Stop",
      hidden: true,
      on: { click: () => this.stop() },
    });
    this.composer = h(
      "form",
      {
        className: "ck-composer",
        on: {
          submit: (event) => {
            event.preventDefault();
            this.send(this.textarea.value);
          },
        },
      },
      this.tray?.element,
      this.tray || this.dictation
        ? h("div", { className: "ck-composer-tools" }, this.attachButton, this.tray?.input, this.dictation?.button)
        : null,
      this.textarea,
      this.dictation?.status,
      h("div", { className: "ck-composer-actions" }, this.assistantSelect, this.modelSelect, this.stopButton, this.sendButton),
    );
    if (this.tray) this.acceptDroppedFiles();
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

  buildAttachments() {
    const limits = this.options.composer?.attachments;
    if (!limits?.enabled) return;
    this.tray = new AttachmentTray({
      api: this.api,
      limits,
      onChange: () => this.updateComposer(),
      onError: (message) => this.showError(message),
    });
    this.attachButton = h(
      "button",
      {
        type: "button",
        className: "ck-icon-button ck-attach",
        ariaLabel: "Attach files",
        title: "Attach files",
        on: { click: () => this.tray.pick() },
      },
      icon("paperclip"),
    );
  }

  buildDictation() {
    if (!this.options.composer?.dictation?.enabled) return;
    this.dictation = new Dictation({
      api: this.api,
      maxSeconds: this.config.dictationMaxSeconds || 120,
      onText: (text) => {
        const before = this.textarea.value;
        this.textarea.value = before && !/\s$/.test(before) ? `${before} ${text}` : before + text;
        this.autosize();
        this.textarea.focus({ preventScroll: true });
      },
      onError: (message) => this.showError(message),
      onStateChange: () => this.updateComposer(),
    });
  }

  /** Files dropped on the composer are attached. */
  acceptDroppedFiles() {
    const hasFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
    this.composer.addEventListener("dragover", (event) => {
      if (!hasFiles(event) || this.currentStatusBlocks()) return;
      event.preventDefault();
      this.composer.classList.add("is-dropping");
    });
    this.composer.addEventListener("dragleave", () => this.composer.classList.remove("is-dropping"));
    this.composer.addEventListener("drop", (event) => {
      this.composer.classList.remove("is-dropping");
      if (!hasFiles(event) || this.currentStatusBlocks()) return;
      event.preventDefault();
      this.tray.add([...event.dataTransfer.files]);
    });
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

  // --- thread list ------------------------------------------------------------

  async loadThreads({ more = false } = {}) {
    const params = { limit: THREADS_PAGE, order: "desc" };
    if (more && this.threadsAfter) params.after = this.threadsAfter;
    this.moreThreads.disabled = true;
    try {
      const page = await this.api.request("threads.list", params);
      if (!more) {
        this.threads.clear();
        this.threadList.replaceChildren();
      }
      for (const thread of page.data) this.upsertThread(thread);
      this.threadsAfter = page.after || null;
      this.moreThreads.hidden = !page.has_more;
    } catch (error) {
      this.showError(`Could not load your conversations. ${error.message}`);
    } finally {
      this.moreThreads.disabled = false;
      this.noThreads.hidden = this.threads.size > 0;
    }
  }

  upsertThread(thread, { prepend = false } = {}) {
    const known = this.threads.get(thread.id);
    const merged = { ...(known || {}), ...thread };
    this.threads.set(thread.id, merged);
    let row = this.threadList.querySelector(`li[data-thread-id="${CSS.escape(thread.id)}"]`);
    const fresh = this.threadRow(merged);
    if (row) row.replaceWith(fresh);
    else if (prepend) this.threadList.prepend(fresh);
    else this.threadList.append(fresh);
    this.noThreads.hidden = true;
    row = fresh;
    return row;
  }

  threadRow(thread) {
    const current = thread.id === this.threadId;
    const row = h("li", {
      className: "ck-thread",
      dataset: { threadId: thread.id },
      ariaCurrent: current ? "true" : null,
    });
    const open = h("button", {
      type: "button",
      className: "ck-thread-open",
      text: threadTitle(thread),
      title: threadTitle(thread),
      on: {
        click: () => {
          this.toggleHistory(false);
          this.openThread(thread.id);
        },
      },
    });
    const rename = h("button", {
      type: "button",
      className: "ck-icon-button ck-thread-rename",
      ariaLabel: `Rename “${threadTitle(thread)}”`,
      title: "Rename",
      on: { click: () => this.startRename(row, thread) },
    }, icon("pencil"));
    const remove = h("button", {
      type: "button",
      className: "ck-icon-button ck-thread-delete",
      ariaLabel: `Delete “${threadTitle(thread)}”`,
      title: "Delete",
      on: { click: () => this.confirmDelete(row, thread) },
    }, icon("trash"));
    row.append(open, h("span", { className: "ck-thread-actions" }, rename, remove));
    return row;
  }

  startRename(row, thread) {
    const input = h("input", {
      className: "ck-rename-input",
      value: thread.title || "",
      maxLength: 255,
      ariaLabel: "New title",
      required: true,
    });
    const problem = h("p", { className: "ck-field-error", hidden: true });
    const cancel = () => row.replaceWith(this.threadRow(this.threads.get(thread.id) || thread));
    const form = h(
      "form",
      {
        className: "ck-rename",
        on: {
          submit: async (event) => {
            event.preventDefault();
            const title = input.value.trim();
            if (!title) {
              problem.textContent = "A title cannot be empty.";
              problem.hidden = false;
              return;
            }
            try {
              const updated = await this.api.request("threads.update", { thread_id: thread.id, title });
              this.upsertThread(updated);
              if (updated.id === this.threadId) this.setThread(updated);
            } catch (error) {
              problem.textContent = `Could not rename: ${error.message}`;
              problem.hidden = false;
            }
          },
          keydown: (event) => {
            if (event.key === "Escape") cancel();
          },
        },
      },
      input,
      h("button", { type: "submit", className: "ck-button ck-button--small", text: "Save" }),
      h("button", { type: "button", className: "ck-link-button", text: "Cancel", on: { click: cancel } }),
      problem,
    );
    row.replaceChildren(form);
    input.focus();
    input.select();
  }

  confirmDelete(row, thread) {
    const cancel = () => row.replaceWith(this.threadRow(this.threads.get(thread.id) || thread));
    const confirmButton = h("button", {
      type: "button",
      className: "ck-button ck-button--danger ck-button--small ck-confirm-delete",
      text: "Delete",
      on: {
        click: async () => {
          confirmButton.disabled = true;
          try {
            await this.api.request("threads.delete", { thread_id: thread.id });
            this.threads.delete(thread.id);
            row.remove();
            this.noThreads.hidden = this.threads.size > 0;
            if (thread.id === this.threadId) this.newThread();
          } catch (error) {
            cancel();
            this.showError(`Could not delete “${threadTitle(thread)}”: ${error.message}`);
          }
        },
      },
    });
    row.replaceChildren(
      h(
        "div",
        { className: "ck-confirm" },
        h("span", { text: `Delete “${threadTitle(thread)}”?` }),
        confirmButton,
        h("button", { type: "button", className: "ck-link-button", text: "Cancel", on: { click: cancel } }),
      ),
    );
    confirmButton.focus();
  }

  markCurrentThread() {
    for (const row of this.threadList.children) {
      if (row.dataset.threadId === this.threadId) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
    }
  }

  // --- the open thread --------------------------------------------------------

  followUrl(threadId, push) {
    if (!this.config.threadUrl || !push) return;
    const url = threadId ? this.config.threadUrl.replace("__thread_id__", encodeURIComponent(threadId)) : this.config.homeUrl;
    if (location.pathname !== url) history.pushState({ chatkitThread: threadId }, "", url);
  }

  setThread(thread) {
    this.thread = thread;
    this.title.textContent = threadTitle(thread);
    const sentence = statusSentence(thread?.status);
    this.statusBadge.hidden = !sentence;
    this.statusBadge.textContent = thread?.status?.type || "";
    this.statusBadge.title = sentence;
    this.updateComposer();
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
    this.startScreen.hidden = false;
    this.markCurrentThread();
    this.followUrl(null, push);
    this.textarea.focus({ preventScroll: true });
  }

  async openThread(threadId, { push = true } = {}) {
    const token = ++this.loadToken;
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
      this.scrollToEnd(true);
    } catch (error) {
      if (token !== this.loadToken) return;
      if (error.status === 404) {
        this.threads.delete(threadId);
        this.threadList.querySelector(`li[data-thread-id="${CSS.escape(threadId)}"]`)?.remove();
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
      // Keep what the reader was looking at in place.
      this.scroller.scrollTop += this.scroller.scrollHeight - height;
    } catch (error) {
      this.showError(`Could not load earlier messages. ${error.message}`);
    } finally {
      this.earlier.disabled = false;
    }
  }

  // --- items ------------------------------------------------------------------

  addItem(item, { done = false } = {}) {
    if (HIDDEN_ITEMS.has(item.type)) return;
    const existing = this.items.get(item.id);
    if (existing) {
      this.replaceItem(item, { done });
      return;
    }
    const node = this.renderItem(item, { done });
    this.items.set(item.id, { item, node });
    this.itemList.append(node);
    this.startScreen.hidden = true;
  }

  replaceItem(item, { done = true } = {}) {
    const existing = this.items.get(item.id);
    if (!existing) return this.addItem(item, { done });
    const node = this.renderItem(item, { done });
    existing.node.replaceWith(node);
    this.items.set(item.id, { item, node });
  }

  removeItem(itemId) {
    const existing = this.items.get(itemId);
    if (!existing) return;
    existing.node.remove();
    this.items.delete(itemId);
  }

  renderItem(item, { done }) {
    const node = h("li", {
      className: `ck-item ck-item--${item.type}`,
      dataset: { itemId: item.id, itemType: item.type },
    });
    switch (item.type) {
      case "user_message": {
        const text = userText(item);
        if (text || !item.attachments?.length) node.append(h("div", { className: "ck-bubble", text }));
        const attachments = renderAttachments(item.attachments, { fileUrl: this.config.attachmentFileUrl });
        if (attachments) node.append(attachments);
        break;
      }
      case "assistant_message": {
        const body = h("div", { className: "ck-bubble ck-markdown" });
        node.append(body);
        this.renderAssistantBody(item, body);
        if (done) node.append(this.messageActions(item));
        else {
          node.classList.add("is-streaming");
          // Screen readers announce the reply once it is complete, not every word.
          node.setAttribute("aria-busy", "true");
        }
        break;
      }
      case "widget":
        node.append(renderWidget(item.widget, { onAction: (action, control) => this.runAction(item, action, control) }));
        break;
      case "workflow": {
        const tasks = item.workflow?.tasks || [];
        const summary = item.workflow?.summary?.title || (item.workflow?.type === "reasoning" ? "Thinking" : "Working");
        node.append(
          h(
            "details",
            { className: "ck-card ck-workflow", open: !done },
            h("summary", { text: summary }),
            h("ol", {}, ...tasks.map((task) => h("li", { text: task.title || task.content || task.type }))),
          ),
        );
        break;
      }
      case "task":
        node.append(h("p", { className: "ck-card ck-muted", text: item.task?.title || item.task?.content || "Task" }));
        break;
      case "client_tool_call":
        node.append(h("p", { className: "ck-card ck-muted", text: `Tool: ${item.name} (${item.status})` }));
        break;
      case "generated_image": {
        const href = item.image?.url;
        const card = h("div", { className: "ck-card" });
        if (href && /^(https?:|data:image\/)/.test(href)) {
          card.append(h("img", { src: href, alt: "Generated image", loading: "lazy", className: "ck-image" }));
        } else {
          card.append(h("p", { className: "ck-muted", text: "Generating an image…" }));
        }
        node.append(card);
        break;
      }
      case "structured_input":
        node.append(
          h(
            "div",
            { className: "ck-card" },
            ...(item.inputs || []).map((input) => h("p", { text: input.question })),
          ),
        );
        break;
      default:
        node.append(h("p", { className: "ck-muted", text: `(${item.type})` }));
    }
    return node;
  }

  renderAssistantBody(item, body) {
    const text = (item.content || []).map((part) => part.text || "").join("\n\n");
    body.replaceChildren(renderMarkdown(text));
  }

  messageActions(item) {
    const actions = h("div", { className: "ck-actions" });
    const itemActions = this.options.threadItemActions || {};
    if (itemActions.feedback) {
      const status = h("span", { className: "ck-feedback-status", role: "status" });
      const vote = (kind, button) => async () => {
        for (const other of actions.querySelectorAll(".ck-feedback")) other.setAttribute("aria-pressed", "false");
        try {
          await this.api.request("items.feedback", { thread_id: item.thread_id, item_ids: [item.id], kind });
          button.setAttribute("aria-pressed", "true");
          status.textContent = "Thanks for the feedback.";
        } catch (error) {
          status.textContent = "";
          this.showError(`Could not send feedback: ${error.message}`);
        }
      };
      const up = h("button", { type: "button", className: "ck-icon-button ck-feedback", ariaLabel: "Good response", ariaPressed: "false", title: "Good response" }, icon("thumbs-up"));
      const down = h("button", { type: "button", className: "ck-icon-button ck-feedback", ariaLabel: "Bad response", ariaPressed: "false", title: "Bad response" }, icon("thumbs-down"));
      up.addEventListener("click", vote("positive", up));
      down.addEventListener("click", vote("negative", down));
      actions.append(up, down, status);
    }
    if (itemActions.retry) {
      actions.prepend(
        h("button", {
          type: "button",
          className: "ck-icon-button ck-retry",
          ariaLabel: "Retry",
          title: "Retry",
          on: { click: () => this.retryFrom(item.id) },
        }, icon("retry")),
      );
    }
    return actions;
  }

  /** The items of the open thread in the order they are shown. */
  itemsInOrder() {
    return [...this.itemList.children]
      .map((node) => this.items.get(node.dataset.itemId))
      .filter(Boolean)
      .map((entry) => entry.item);
  }

  /** The user message that prompted the item `itemId` (the last one before it). */
  userMessageBefore(itemId) {
    let found = null;
    for (const item of this.itemsInOrder()) {
      if (item.id === itemId) break;
      if (item.type === "user_message") found = item;
    }
    return found;
  }

  lastUserMessage() {
    return this.itemsInOrder().findLast((item) => item.type === "user_message") || null;
  }

  scheduleRender(itemId) {
    this.renderQueue.add(itemId);
    if (this.renderQueue.size > 1) return;
    requestAnimationFrame(() => {
      const nearEnd = this.nearEnd();
      for (const id of this.renderQueue) {
        const entry = this.items.get(id);
        const body = entry?.node.querySelector(".ck-bubble");
        if (entry && body) this.renderAssistantBody(entry.item, body);
      }
      this.renderQueue.clear();
      this.scrollToEnd(nearEnd);
    });
  }

  applyUpdate(itemId, update) {
    const entry = this.items.get(itemId);
    if (!entry) return; // an item this view never saw (opened mid-stream)
    const item = entry.item;
    switch (update.type) {
      case "assistant_message.content_part.added":
        item.content = item.content || [];
        item.content[update.content_index] = { ...update.content };
        this.scheduleRender(itemId);
        break;
      case "assistant_message.content_part.text_delta": {
        item.content = item.content || [];
        const part = item.content[update.content_index] || { type: "output_text", text: "" };
        part.text = (part.text || "") + update.delta;
        item.content[update.content_index] = part;
        this.scheduleRender(itemId);
        break;
      }
      case "assistant_message.content_part.done":
        item.content[update.content_index] = update.content;
        this.scheduleRender(itemId);
        break;
      case "workflow.task.added":
      case "workflow.task.updated":
        item.workflow = item.workflow || { tasks: [] };
        item.workflow.tasks = item.workflow.tasks || [];
        item.workflow.tasks[update.task_index] = update.task;
        this.replaceItem(item, { done: false });
        break;
      case "widget.root.updated":
        item.widget = update.widget;
        this.replaceItem(item, { done: false });
        break;
      case "generated_image.updated":
        item.image = update.image;
        this.replaceItem(item, { done: false });
        break;
      default:
        // Annotations and widget component deltas: the finished item
        // (thread.item.done) carries them in full.
        break;
    }
  }

  // --- sending and streaming ----------------------------------------------------

  currentStatusBlocks() {
    return this.thread?.status && this.thread.status.type !== "active";
  }

  updateComposer() {
    const busy = Boolean(this.viewStream);
    const blocked = this.currentStatusBlocks();
    const uploading = Boolean(this.tray?.busy());
    const dictating = this.dictation && this.dictation.state !== "idle";
    this.sendButton.hidden = busy;
    this.stopButton.hidden = !busy;
    this.stopButton.disabled = busy && this.viewStream.allowCancel === false;
    this.sendButton.disabled = Boolean(blocked) || uploading || Boolean(dictating);
    this.sendButton.title = uploading ? "Waiting for the files to upload" : "";
    this.textarea.disabled = Boolean(blocked);
    if (this.attachButton) this.attachButton.disabled = Boolean(blocked);
    if (this.dictation && this.dictation.state === "idle") this.dictation.button.disabled = Boolean(blocked);
    this.textarea.placeholder = blocked
      ? statusSentence(this.thread.status)
      : this.options.composer?.placeholder || "Message the assistant";
  }

  autosize() {
    this.textarea.style.height = "auto";
    this.textarea.style.height = `${Math.min(this.textarea.scrollHeight, 200)}px`;
  }

  nearEnd() {
    const { scrollTop, scrollHeight, clientHeight } = this.scroller;
    return scrollHeight - scrollTop - clientHeight < 80;
  }

  scrollToEnd(force) {
    if (force) this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  inferenceOptions() {
    const options = this.modelSelect ? { model: this.modelSelect.value } : {};
    // The first assistant is the default one: naming it changes nothing.
    const assistant = this.assistantSelect?.value;
    if (assistant && assistant !== this.config.assistants[0].id) options.tool_choice = { id: assistant };
    return options;
  }

  async send(raw) {
    const text = String(raw || "").trim();
    const files = this.tray?.ready().length || 0;
    if ((!text && !files) || this.viewStream || this.currentStatusBlocks()) return;
    if (this.tray?.busy()) {
      this.showError("Wait until the files have finished uploading, or remove them.");
      return;
    }
    this.clearAlerts();
    this.textarea.value = "";
    this.autosize();
    this.startScreen.hidden = true;
    const attached = this.tray ? this.tray.take() : [];
    const attachments = attached.map((entry) => entry.attachment);
    const pending = h(
      "li",
      { className: "ck-item ck-item--user_message is-pending", dataset: { itemType: "user_message" } },
      text ? h("div", { className: "ck-bubble", text }) : null,
      renderAttachments(attachments),
    );
    this.itemList.append(pending);
    this.scrollToEnd(true);
    const input = {
      content: text ? [{ type: "input_text", text }] : [],
      attachments: attachments.map((attachment) => attachment.id),
      inference_options: this.inferenceOptions(),
    };
    const threadId = this.threadId;
    const request = threadId
      ? ["threads.add_user_message", { thread_id: threadId, input }]
      : ["threads.create", { input }];
    const ok = await this.runStream(...request, { threadId, pending });
    if (!ok && pending.isConnected) {
      // Nothing was stored: give the text and the files back rather than lose them.
      pending.remove();
      if (!this.textarea.value) {
        this.textarea.value = text;
        this.autosize();
      }
      this.tray?.restore(attached);
      if (!this.items.size && !this.threadId) this.startScreen.hidden = false;
    } else {
      this.tray?.release(attached);
    }
  }

  /**
   * Run a widget's action: a client action becomes a `chatkit.action` DOM
   * event for the page; a server action goes to `threads.custom_action`
   * (streamed: the widget may be replaced, items added, effects sent) or,
   * when the action says it does not stream, `threads.sync_custom_action`.
   */
  async runAction(item, action, control) {
    const detail = { action: { type: action.type, payload: action.payload ?? null }, itemId: item.id, threadId: item.thread_id };
    if (action.handler === "client") {
      this.mount.dispatchEvent(new CustomEvent("chatkit.action", { bubbles: true, detail }));
      return;
    }
    const entry = this.items.get(item.id);
    if (!entry || this.currentStatusBlocks()) return;
    const widget = entry.node;
    widget.setAttribute("aria-busy", "true");
    widget.classList.add("is-acting");
    if (control && "disabled" in control) control.disabled = true;
    const params = { thread_id: item.thread_id, item_id: item.id, action: detail.action };
    const stream = { threadId: item.thread_id, action: true, streamingItemIds: new Set(), accepted: false, allowCancel: true };
    this.streams.add(stream);
    let failed = false;
    try {
      if (action.streaming === false) {
        const answer = await this.api.request("threads.sync_custom_action", params);
        if (answer?.updated_item && item.thread_id === this.threadId) this.replaceItem(answer.updated_item, { done: true });
      } else {
        await this.api.stream("threads.custom_action", params, {
          onEvent: (event) => {
            stream.accepted = true;
            this.handleEvent(stream, event);
          },
        });
      }
    } catch (error) {
      failed = true;
      if (item.thread_id === this.threadId) {
        this.showError(`That did not work: ${error.message}`);
        if (error.code === "thread_locked" || error.code === "thread_closed") this.refreshThreadStatus();
      }
    } finally {
      this.streams.delete(stream);
      for (const id of stream.streamingItemIds) this.finishItem(id);
      if (item.thread_id === this.threadId) this.progress.hidden = true;
      const current = this.items.get(item.id);
      if (current && current.node === widget) {
        // Not replaced: put the widget back as it was stored (a ticked box unticks on failure).
        if (failed) this.replaceItem(current.item, { done: true });
        else {
          widget.removeAttribute("aria-busy");
          widget.classList.remove("is-acting");
          if (control && "disabled" in control) control.disabled = false;
        }
      }
    }
  }

  async retryFrom(itemId) {
    if (this.viewStream || !this.threadId) return;
    const user = this.userMessageBefore(itemId) || this.lastUserMessage();
    if (!user) return;
    this.clearAlerts();
    // The server drops everything after that message before it answers again.
    let after = false;
    for (const item of this.itemsInOrder()) {
      if (after) this.removeItem(item.id);
      if (item.id === user.id) after = true;
    }
    await this.runStream("threads.retry_after_item", { thread_id: this.threadId, item_id: user.id }, { threadId: this.threadId });
  }

  stop() {
    const stream = this.viewStream;
    if (!stream || stream.allowCancel === false) return;
    stream.stopped = true;
    stream.controller.abort();
  }

  /** Run one streaming request; true when the server accepted it. */
  async runStream(type, params, { threadId, pending = null }) {
    const stream = {
      threadId,
      pending,
      controller: new AbortController(),
      allowCancel: true,
      accepted: false,
      streamingItemIds: new Set(),
    };
    this.streams.add(stream);
    this.viewStream = stream;
    this.updateComposer();
    try {
      await this.api.stream(type, params, {
        signal: stream.controller.signal,
        onEvent: (event) => {
          stream.accepted = true;
          this.handleEvent(stream, event);
        },
      });
      return true;
    } catch (error) {
      if (error.name === "AbortError") {
        if (stream === this.viewStream) this.markStopped(stream);
        return stream.accepted;
      }
      if (stream === this.viewStream || stream.threadId === this.threadId) {
        const retryable = stream.accepted && error instanceof ChatKitError && error.allowRetry;
        this.showError(error.message, { retry: retryable ? () => this.retryLast() : null });
        if (error.code === "thread_locked" || error.code === "thread_closed") {
          this.refreshThreadStatus();
        }
      }
      return stream.accepted;
    } finally {
      this.streams.delete(stream);
      if (stream === this.viewStream) {
        this.viewStream = null;
        this.progress.hidden = true;
        for (const id of stream.streamingItemIds) this.finishItem(id);
      }
      this.updateComposer();
      if (stream.threadId && stream.threadId === this.threadId) this.textarea.focus({ preventScroll: true });
    }
  }

  retryLast() {
    const user = this.lastUserMessage();
    if (user) this.retryFrom(user.id);
  }

  async refreshThreadStatus() {
    if (!this.threadId) return;
    try {
      const thread = await this.api.request("threads.get_by_id", { thread_id: this.threadId });
      if (thread.id === this.threadId) this.setThread(thread);
    } catch {
      // The error is already on screen; a stale badge is harmless.
    }
  }

  markStopped(stream) {
    for (const id of stream.streamingItemIds) {
      const entry = this.items.get(id);
      if (entry && !entry.node.querySelector(".ck-stopped")) {
        entry.node.append(h("p", { className: "ck-stopped ck-muted", text: "Stopped." }));
      }
    }
  }

  /** A streamed item is finished: show its actions. */
  finishItem(itemId) {
    const entry = this.items.get(itemId);
    if (!entry || !entry.node.classList.contains("is-streaming")) return;
    entry.node.classList.remove("is-streaming");
    entry.node.removeAttribute("aria-busy");
    if (entry.item.type === "assistant_message") {
      const body = entry.node.querySelector(".ck-bubble");
      if (body) this.renderAssistantBody(entry.item, body);
      entry.node.querySelector(".ck-stopped")?.before(this.messageActions(entry.item));
      if (!entry.node.querySelector(".ck-actions")) entry.node.append(this.messageActions(entry.item));
    }
  }

  handleEvent(stream, event) {
    // An action's stream shows in its thread without taking over the composer.
    const visible = stream === this.viewStream || (stream.action === true && stream.threadId === this.threadId);
    switch (event.type) {
      case "thread.created": {
        stream.threadId = event.thread.id;
        this.upsertThread(event.thread, { prepend: true });
        if (visible) {
          this.threadId = event.thread.id;
          this.setThread(event.thread);
          this.markCurrentThread();
          this.followUrl(event.thread.id, true);
        }
        break;
      }
      case "thread.updated": {
        if (this.threads.has(event.thread.id) || this.options.history?.enabled !== false) {
          this.upsertThread(event.thread, { prepend: !this.threads.has(event.thread.id) });
        }
        if (event.thread.id === this.threadId) this.setThread(event.thread);
        break;
      }
      case "thread.item.added":
        if (!visible) break;
        this.progress.hidden = true;
        this.addItem(event.item);
        stream.streamingItemIds.add(event.item.id);
        this.scrollToEnd(true);
        break;
      case "thread.item.done":
        if (!visible) break;
        if (event.item.type === "user_message" && stream.pending) {
          stream.pending.remove();
          stream.pending = null;
        }
        if (this.items.has(event.item.id)) this.replaceItem(event.item, { done: true });
        else this.addItem(event.item, { done: true });
        stream.streamingItemIds.delete(event.item.id);
        this.scrollToEnd(this.nearEnd() || event.item.type === "user_message");
        break;
      case "thread.item.updated":
        if (visible) this.applyUpdate(event.item_id, event.update);
        break;
      case "thread.item.removed":
        if (visible) this.removeItem(event.item_id);
        break;
      case "thread.item.replaced":
        if (visible) this.replaceItem(event.item, { done: true });
        break;
      case "stream_options":
        stream.allowCancel = event.stream_options?.allow_cancel !== false;
        if (visible) this.updateComposer();
        break;
      case "progress_update":
        if (!visible) break;
        this.progress.textContent = event.text || "Working…";
        this.progress.hidden = false;
        break;
      case "client_effect":
        this.mount.dispatchEvent(
          new CustomEvent("chatkit.effect", { bubbles: true, detail: { name: event.name, data: event.data } }),
        );
        break;
      case "notice":
        if (visible) this.showNotice(event);
        break;
      case "error":
        if (!visible) break;
        this.showError(event.message || STREAM_ERROR_MESSAGE, {
          retry: event.allow_retry ? () => this.retryLast() : null,
        });
        break;
      default:
        break;
    }
  }
}

export function mountBuiltInClient(mount, config) {
  const client = new BuiltInClient(mount, config);
  client.start();
  return client;
}
