// A small, safe Markdown renderer for model replies.
//
// It builds DOM nodes and sets only textContent and a few attributes it
// chooses itself, so nothing in the text can become markup: `<script>` or
// `<img onerror>` in a reply is shown as the characters it is. Links keep
// only absolute http(s) URLs. Supported: paragraphs and line breaks,
// headings, **bold**, *italic*, `code`, fenced code blocks, bullet and
// numbered lists, block quotes, [links](https://…), bare https:// URLs and
// ![images](https://…). An image is loaded only when `imageAllowed(url)`
// says so (the thread's allowed_image_domains); otherwise a placeholder
// with its alt text stands in, and nothing is requested.

import { imagePlaceholder } from "./dom.js";

const FENCE = /^\s*(```|~~~)(.*)$/;
const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*(\d{1,9})[.)]\s+(.*)$/;
const QUOTE = /^\s*>\s?(.*)$/;
const RULE = /^\s*([-*_])(\s*\1){2,}\s*$/;
const ESCAPABLE = "\\`*_{}[]()#+-.!>~|";
const BARE_URL = /^https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"]/;

function el(tag, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}

/** The URL if it is an absolute http(s) one, else null. */
export function safeHref(raw) {
  try {
    const url = new URL(raw);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

function link(href, parent) {
  const a = el("a");
  a.href = href;
  a.rel = "noopener noreferrer nofollow";
  a.target = "_blank";
  parent.append(a);
  return a;
}

function image(alt, raw, parent, options) {
  const href = safeHref(raw);
  if (!href || (options.imageAllowed && !options.imageAllowed(href))) {
    parent.append(imagePlaceholder(alt, "ck-md-image"));
    return;
  }
  const img = el("img", "ck-md-image");
  img.src = href;
  img.alt = alt;
  img.loading = "lazy";
  img.referrerPolicy = "no-referrer";
  parent.append(img);
}

/** Append inline Markdown `text` to `parent` as nodes. */
export function renderInline(text, parent, options = {}) {
  let buffer = "";
  const flush = () => {
    if (buffer) parent.append(document.createTextNode(buffer));
    buffer = "";
  };
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    const rest = text.slice(i);
    if (ch === "\\" && i + 1 < text.length && ESCAPABLE.includes(text[i + 1])) {
      buffer += text[i + 1];
      i += 2;
      continue;
    }
    if (ch === "`") {
      const ticks = /^`+/.exec(rest)[0];
      const end = text.indexOf(ticks, i + ticks.length);
      if (end > i) {
        flush();
        const code = el("code");
        code.textContent = text.slice(i + ticks.length, end).trim() || text.slice(i + ticks.length, end);
        parent.append(code);
        i = end + ticks.length;
        continue;
      }
    }
    if (rest.startsWith("**") || rest.startsWith("__")) {
      const marker = rest.slice(0, 2);
      const end = text.indexOf(marker, i + 2);
      // Like `_`, `__` only works at word boundaries: window.__name__ stays.
      const bounded =
        marker === "**" || ((i === 0 || !/\w/.test(text[i - 1])) && !/\w/.test(text[end + 2] || ""));
      if (end > i + 2 && bounded) {
        flush();
        const strong = el("strong");
        renderInline(text.slice(i + 2, end), strong, options);
        parent.append(strong);
        i = end + 2;
        continue;
      }
    }
    if ((ch === "*" || ch === "_") && text[i + 1] && text[i + 1] !== " " && text[i + 1] !== ch) {
      // `_` only opens at a word boundary, so snake_case stays as it is.
      const opens = ch === "*" || i === 0 || !/\w/.test(text[i - 1]);
      const end = text.indexOf(ch, i + 1);
      const closes = end > i + 1 && text[end - 1] !== " " && (ch === "*" || !/\w/.test(text[end + 1] || ""));
      if (opens && closes) {
        flush();
        const em = el("em");
        renderInline(text.slice(i + 1, end), em, options);
        parent.append(em);
        i = end + 1;
        continue;
      }
    }
    if (rest.startsWith("~~")) {
      const end = text.indexOf("~~", i + 2);
      if (end > i + 2) {
        flush();
        const del = el("del");
        renderInline(text.slice(i + 2, end), del, options);
        parent.append(del);
        i = end + 2;
        continue;
      }
    }
    if (ch === "!" && text[i + 1] === "[") {
      const match = /^!\[([^\]\n]*)\]\(\s*<?((?:[^\s()<>]|\([^\s()<>]*\))+)>?(?:\s+"[^"]*")?\s*\)/.exec(rest);
      if (match) {
        flush();
        image(match[1], match[2], parent, options);
        i += match[0].length;
        continue;
      }
    }
    if (ch === "[") {
      // The URL may hold one level of balanced parentheses (Wikipedia links).
      const match = /^\[([^\]\n]+)\]\(\s*<?((?:[^\s()<>]|\([^\s()<>]*\))+)>?(?:\s+"[^"]*")?\s*\)/.exec(rest);
      if (match) {
        flush();
        const href = safeHref(match[2]);
        if (href) {
          renderInline(match[1], link(href, parent), options);
        } else {
          // A link to anything but http(s) (javascript:, data:…) keeps only its text.
          renderInline(match[1], parent, options);
        }
        i += match[0].length;
        continue;
      }
    }
    if ((ch === "h" || ch === "<") && (i === 0 || !/\w/.test(text[i - 1]))) {
      const autolink = ch === "<" ? /^<(https?:\/\/[^\s<>]+)>/.exec(rest) : BARE_URL.exec(rest);
      if (autolink) {
        const raw = ch === "<" ? autolink[1] : autolink[0];
        const href = safeHref(raw);
        if (href) {
          flush();
          link(href, parent).textContent = raw;
          i += autolink[0].length;
          continue;
        }
      }
    }
    buffer += ch;
    i += 1;
  }
  flush();
}

function isBlockStart(line) {
  return (
    FENCE.test(line) ||
    HEADING.test(line) ||
    BULLET.test(line) ||
    NUMBERED.test(line) ||
    QUOTE.test(line) ||
    RULE.test(line)
  );
}

function renderLines(lines, parent, options) {
  lines.forEach((line, index) => {
    if (index) parent.append(el("br"));
    renderInline(line.trim(), parent, options);
  });
}

/** Append block-level Markdown `text` to `parent`. */
function renderBlocks(text, parent, options) {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
      i += 1; // the closing fence (absent while a reply is still streaming)
      const pre = el("pre");
      const code = el("code");
      const language = fence[2].trim().split(/\s+/)[0];
      if (language) code.dataset.language = language;
      code.textContent = body.join("\n");
      pre.append(code);
      parent.append(pre);
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      // Replies sit inside a page: their top heading is a small one.
      const node = el(`h${Math.min(heading[1].length + 2, 6)}`);
      renderInline(heading[2], node, options);
      parent.append(node);
      i += 1;
      continue;
    }
    if (RULE.test(line)) {
      parent.append(el("hr"));
      i += 1;
      continue;
    }
    if (QUOTE.test(line)) {
      const inner = [];
      while (i < lines.length && QUOTE.test(lines[i])) inner.push(QUOTE.exec(lines[i++])[1]);
      const quote = el("blockquote");
      renderBlocks(inner.join("\n"), quote, options);
      parent.append(quote);
      continue;
    }
    const numbered = NUMBERED.exec(line);
    if (numbered || BULLET.test(line)) {
      const pattern = numbered ? NUMBERED : BULLET;
      const list = el(numbered ? "ol" : "ul");
      if (numbered && numbered[1] !== "1") list.start = Number(numbered[1]);
      while (i < lines.length && pattern.test(lines[i])) {
        const match = pattern.exec(lines[i++]);
        const itemLines = [numbered ? match[2] : match[1]];
        // Indented continuation lines belong to the item.
        while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !isBlockStart(lines[i])) {
          itemLines.push(lines[i++]);
        }
        const item = el("li");
        renderLines(itemLines, item, options);
        list.append(item);
      }
      parent.append(list);
      continue;
    }
    const paragraph = [];
    while (i < lines.length && lines[i].trim() && !(paragraph.length && isBlockStart(lines[i]))) {
      paragraph.push(lines[i++]);
    }
    const p = el("p");
    renderLines(paragraph, p, options);
    parent.append(p);
  }
}

/**
 * A fragment holding `text` rendered as Markdown. `options.imageAllowed(url)`
 * decides which images load (all, when absent).
 */
export function renderMarkdown(text, options = {}) {
  const fragment = document.createDocumentFragment();
  renderBlocks(String(text ?? ""), fragment, options);
  return fragment;
}
