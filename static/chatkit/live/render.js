// Builds the DOM of live items and activity entries.
//
// Everything a user or a model wrote goes in as text nodes (textContent),
// never as markup: a message that contains "<script>" shows those
// characters. Links are made only from http(s) URLs: the server's item
// `view` carries no other (chatkit_app/transcript.py `safe_url`, the one
// rule for every renderer), and `safeHref` refuses any other here too.

/** `el("p", {class: "x", text: "hi"}, child, ...)` */
export function el(tag, options = {}, ...children) {
  const node = document.createElement(tag);
  if (options.class) node.className = options.class;
  if (options.text !== undefined && options.text !== null) node.textContent = String(options.text);
  for (const [name, value] of Object.entries(options.attrs || {})) node.setAttribute(name, value);
  for (const child of children) if (child) node.append(child);
  return node;
}

export function safeHref(url) {
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : "";
  } catch {
    return "";
  }
}

export function link(url, text) {
  const href = safeHref(url);
  if (!href) return el("span", { text });
  return el("a", { text, attrs: { href } });
}

export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

const ROLES = {
  user_message: "user",
  assistant_message: "assistant",
  client_tool_call: "tool",
  hidden_context_item: "system",
  sdk_hidden_context: "system",
  end_of_turn: "system",
};

/** The body of an item from its `view` (transcript.describe_item's fields). */
export function itemBody(view) {
  const body = el("div", { class: "ck-live-body" });
  const text = el("div", { class: "ck-live-text", text: view.text || "" });
  if (view.type === "client_tool_call") text.classList.add("ck-live-code");
  body.append(text);
  if (view.details && view.details.length) {
    const list = el("dl");
    for (const [label, value] of view.details) list.append(el("dt", { text: label }), el("dd", { text: value }));
    body.append(list);
  }
  if (view.attachments && view.attachments.length) {
    const list = el("ul", { class: "ck-live-attachments" });
    for (const attachment of view.attachments) {
      list.append(el("li", { text: `📎 ${attachment.name} (${attachment.mime_type})` }));
    }
    body.append(list);
  }
  if (view.sources && view.sources.length) {
    const list = el("ul", { class: "ck-live-sources" });
    for (const source of view.sources) list.append(el("li", { text: `Source: ${source}` }));
    body.append(list);
  }
  if (view.outline && view.outline.length) {
    const list = el("ul", { class: "ck-live-outline" });
    for (const [depth, line] of view.outline) {
      const entry = el("li", { text: line });
      entry.style.marginLeft = `${Number(depth) * 1.25}em`;
      list.append(entry);
    }
    body.append(list);
  }
  if (view.image_url) body.append(el("p", {}, "Image: ", link(view.image_url, view.image_url)));
  else if (view.inline_image) body.append(el("p", { text: "Image (inline, shown on the conversation page)" }));
  for (const [label, block] of view.blocks || []) {
    body.append(el("p", {}, el("strong", { text: label })), el("pre", { text: block }));
  }
  return body;
}

/** A new <li> for an item; `update` fills it. */
export function itemElement(itemId, view) {
  const role = view.person ? "person" : ROLES[view.type] || "assistant";
  const node = el("li", {
    class: `ck-live-item ck-role-${role}${view.hidden ? " ck-live-hidden" : ""}`,
    attrs: { "data-item-id": itemId },
  });
  node.append(el("header"), itemBody(view), el("p", { class: "ck-live-feedback" }));
  return node;
}

/** Redraw an item's header and body: a saved item (`event.sequence` set)
 * or one still being written. */
export function updateItem(node, { view, sequence, interrupted, writing }) {
  const header = el("header", {}, el("strong", { text: view.label || "Item" }));
  if (sequence) header.append(` · #${sequence}`);
  if (view.created_at) header.append(` · ${formatTime(view.created_at)}`);
  if (interrupted) header.append(" · ", el("em", { text: "interrupted" }));
  if (writing) header.append(" · ", el("em", { class: "ck-live-writing", text: "writing…" }));
  node.querySelector("header").replaceWith(header);
  node.querySelector(".ck-live-body").replaceWith(itemBody(view));
  node.classList.toggle("ck-live-in-progress", Boolean(writing));
  node.setAttribute("aria-busy", writing ? "true" : "false");
  if (sequence) node.dataset.sequence = String(sequence);
}
