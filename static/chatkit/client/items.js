// The built-in client's items: each thread item drawn as DOM (replies as
// Markdown through the safe renderer, widgets through widgets.js, questions
// through structured-input.js), updated as deltas arrive, and the actions
// under a finished reply. Images load only from the hosts the thread allows
// (its allowed_image_domains). Tags in user messages are chips; a click on
// one is a `chatkit.entity.click` DOM event for the page, as the official
// component's `entities.onClick`.
//
// Methods of BuiltInClient (client.js), which holds the state they share.

import { renderAttachments } from "../attachments.js";
import { h, imagePlaceholder } from "../dom.js";
import { icon } from "../icons.js";
import { renderMarkdown } from "../markdown.js";
import { renderWidget } from "../widgets.js";
import { personAuthor, personBadge, shownParts } from "./handoff.js";

// Items the model sees but the user does not.
export const HIDDEN_ITEMS = new Set(["hidden_context_item", "sdk_hidden_context", "end_of_turn"]);

export const ENTITY_CLICK_EVENT = "chatkit.entity.click";

/** The entity a tag content part stands for, in `@openai/chatkit`'s shape. */
export function tagEntity(part) {
  return { id: part.id, title: part.text, group: part.group || undefined, data: part.data || {}, interactive: Boolean(part.interactive) };
}

/** A user message's content parts as its bubble: text, and tags as chips. */
export function renderUserContent(parts, onTagClick = null) {
  const bubble = h("div", { className: "ck-bubble" });
  for (const part of parts || []) {
    if (part.type === "input_tag") {
      const clickable = Boolean(onTagClick && part.interactive);
      bubble.append(
        h(clickable ? "button" : "span", {
          type: clickable ? "button" : null,
          className: "ck-tag",
          text: part.text,
          title: part.group ? `${part.group}: ${part.text}` : part.text,
          dataset: { entityId: part.id },
          on: clickable ? { click: () => onTagClick(part) } : null,
        }),
      );
    } else if (part.text) {
      bubble.append(document.createTextNode(part.text));
    }
  }
  return bubble;
}

export const itemMethods = {
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
    if (item.type === "user_message") this.supersedeQuestions();
  },

  replaceItem(item, { done = true } = {}) {
    const existing = this.items.get(item.id);
    if (!existing) return this.addItem(item, { done });
    const node = this.renderItem(item, { done });
    existing.node.replaceWith(node);
    this.items.set(item.id, { item, node });
  },

  removeItem(itemId) {
    const existing = this.items.get(itemId);
    if (!existing) return;
    existing.node.remove();
    this.items.delete(itemId);
  },

  renderItem(item, { done }) {
    const node = h("li", {
      className: `ck-item ck-item--${item.type}`,
      dataset: { itemId: item.id, itemType: item.type },
    });
    switch (item.type) {
      case "user_message": {
        const parts = (item.content || []).filter((part) => part.type === "input_tag" || part.text);
        if (parts.length || !item.attachments?.length) {
          node.append(renderUserContent(parts, (part) => this.entityClicked(part)));
        }
        const attachments = renderAttachments(item.attachments, {
          fileUrl: this.config.attachmentFileUrl,
          imageAllowed: (url) => this.allowsImage(url),
        });
        if (attachments) node.append(attachments);
        break;
      }
      case "assistant_message": {
        // A person from the team wrote it (handoff.js).
        if (personAuthor(item)) node.classList.add("ck-item--person");
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
        node.append(
          renderWidget(item.widget, {
            onAction: (action, control) => this.runAction(item, action, control),
            imageAllowed: (url) => this.allowsImage(url),
          }),
        );
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
        node.append(
          h(
            "p",
            { className: "ck-tool-call ck-muted", dataset: { status: item.status } },
            icon(item.status === "completed" ? "check" : "monitor"),
            h("span", { text: item.status === "completed" ? `The page answered ${item.name}.` : `Asking the page: ${item.name}…` }),
          ),
        );
        break;
      case "generated_image": {
        const href = item.image?.url;
        const card = h("div", { className: "ck-card" });
        if (href && /^(https?:|data:image\/)/.test(href) && !this.allowsImage(href)) {
          card.append(imagePlaceholder("Generated image", "ck-image"));
        } else if (href && /^(https?:|data:image\/)/.test(href)) {
          card.append(h("img", { src: href, alt: "Generated image", loading: "lazy", className: "ck-image", referrerPolicy: "no-referrer" }));
        } else {
          card.append(h("p", { className: "ck-muted", text: "Generating an image…" }));
        }
        node.append(card);
        break;
      }
      case "structured_input":
        node.append(this.renderStructuredInput(item));
        break;
      default:
        node.append(h("p", { className: "ck-muted", text: `(${item.type})` }));
    }
    return node;
  },

  renderAssistantBody(item, body) {
    const text = shownParts(item).map((part) => part.text || "").join("\n\n");
    const person = personAuthor(item);
    const markdown = renderMarkdown(text, { imageAllowed: (url) => this.allowsImage(url) });
    body.replaceChildren(...(person ? [personBadge(person), markdown] : [markdown]));
  },

  /** A tag in a sent message was clicked: tell the page. */
  entityClicked(part) {
    this.mount.dispatchEvent(new CustomEvent(ENTITY_CLICK_EVENT, { bubbles: true, detail: { entity: tagEntity(part) } }));
  },

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
    // Retrying a person's reply would replace it with the assistant's.
    if (itemActions.retry && !personAuthor(item)) {
      actions.prepend(
        h("button", {
          type: "button",
          className: "ck-icon-button ck-retry",
          ariaLabel: "Retry",
          title: "Retry",
          // Off while a reply streams (a finished message shows its actions
          // before its stream has ended): one stream per thread at a time.
          disabled: Boolean(this.viewStream),
          on: { click: () => this.retryFrom(item.id) },
        }, icon("retry")),
      );
    }
    return actions;
  },

  /** The items of the open thread in the order they are shown. */
  itemsInOrder() {
    return [...this.itemList.children]
      .map((node) => this.items.get(node.dataset.itemId))
      .filter(Boolean)
      .map((entry) => entry.item);
  },

  /** The user message that prompted the item `itemId` (the last one before it). */
  userMessageBefore(itemId) {
    let found = null;
    for (const item of this.itemsInOrder()) {
      if (item.id === itemId) break;
      if (item.type === "user_message") found = item;
    }
    return found;
  },

  lastUserMessage() {
    return this.itemsInOrder().findLast((item) => item.type === "user_message") || null;
  },

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
  },

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
  },

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
  },

  markStopped(stream) {
    for (const id of stream.streamingItemIds) {
      const entry = this.items.get(id);
      if (entry && !entry.node.querySelector(".ck-stopped")) {
        entry.node.append(h("p", { className: "ck-stopped ck-muted", text: "Stopped." }));
      }
    }
  },
};
