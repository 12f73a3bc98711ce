// Attachments in the built-in client.
//
// The composer's tray: files picked, dropped or pasted are each created on
// the server (`attachments.create` with name, size and type; the server
// refuses what breaks its limits before any byte is sent), then uploaded to
// the signed link of the answer's `upload_descriptor`, with progress. Each
// file is a chip (a preview for images, an icon and name for other files)
// with a remove button (`attachments.delete`) until the message is sent; a
// refused file says why, in the server's words, on its chip.
//
// Sent messages show their attachments: image previews through the signed
// `preview_url` the server sends with every item, other files as chips.

import { h, formatBytes, safeUrl } from "./dom.js";
import { icon } from "./icons.js";

const FALLBACK_TYPE = "application/octet-stream";

/** The `accept` attribute of a file input from the option's {type: [extensions]} map. */
export function acceptAttribute(accept) {
  if (!accept) return "";
  return Object.entries(accept)
    .flatMap(([type, extensions]) => [type, ...(extensions || [])])
    .join(",");
}

/**
 * The MIME type to declare for `file`: the browser's, else the one the
 * accepted types give its extension (browsers leave `.md` untyped).
 */
export function mimeTypeOf(file, accept) {
  if (file.type) return file.type;
  const dot = (file.name || "").lastIndexOf(".");
  const extension = dot >= 0 ? file.name.slice(dot).toLowerCase() : "";
  for (const [type, extensions] of Object.entries(accept || {})) {
    if (extension && (extensions || []).includes(extension)) return type;
  }
  return FALLBACK_TYPE;
}

function isImage(mimeType) {
  return typeof mimeType === "string" && mimeType.startsWith("image/");
}

/** The attachments of a sent user message, as a list of previews and chips. */
export function renderAttachments(attachments, { fileUrl = "", imageAllowed = () => true } = {}) {
  if (!attachments?.length) return null;
  const list = h("ul", { className: "ck-message-attachments", ariaLabel: "Attachments" });
  for (const attachment of attachments) {
    const name = attachment.name || "Attachment";
    const href = fileUrl && attachment.id ? fileUrl.replace("__attachment_id__", encodeURIComponent(attachment.id)) : "";
    // A preview from a host the thread does not allow shows as a file.
    const preview =
      attachment.type === "image" && safeUrl(attachment.preview_url) && imageAllowed(attachment.preview_url)
        ? attachment.preview_url
        : "";
    let content;
    if (preview) {
      content = h("img", { src: preview, alt: name, loading: "lazy", className: "ck-attachment-image" });
    } else {
      content = h(
        "span",
        { className: "ck-attachment-file" },
        icon("file"),
        h("span", { className: "ck-attachment-name", text: name }),
      );
    }
    const body = href
      ? h("a", { href, target: "_blank", rel: "noopener", title: name, className: "ck-attachment-link" }, content)
      : content;
    list.append(
      h("li", { className: `ck-attachment ck-attachment--${preview ? "image" : "file"}`, dataset: { attachmentId: attachment.id || "" } }, body),
    );
  }
  return list;
}

/**
 * The files waiting to be sent with the next message.
 *
 * `limits` is the component's `composer.attachments` option; `onChange` is
 * called whenever the set of files or their state changes; `onError(text)`
 * reports problems that belong to no single file (too many files).
 */
export class AttachmentTray {
  constructor({ api, limits, onChange = () => {}, onError = () => {} }) {
    this.api = api;
    this.limits = limits || {};
    this.onChange = onChange;
    this.onError = onError;
    this.entries = [];
    this.element = h("ul", { className: "ck-tray", ariaLabel: "Files to send", hidden: true });
    this.input = h("input", {
      type: "file",
      multiple: true,
      accept: acceptAttribute(this.limits.accept),
      className: "ck-file-input",
      hidden: true,
      tabIndex: -1,
      ariaHidden: "true",
      on: {
        change: () => {
          this.add([...this.input.files]);
          this.input.value = ""; // picking the same file again fires change again
        },
      },
    });
  }

  get maxCount() {
    return this.limits.maxCount ?? Infinity;
  }

  /** Open the browser's file picker. */
  pick() {
    this.input.click();
  }

  /** Files counted against the limit: everything not refused. */
  counted() {
    return this.entries.filter((entry) => entry.status !== "failed");
  }

  ready() {
    return this.entries.filter((entry) => entry.status === "ready");
  }

  busy() {
    return this.entries.some((entry) => entry.status === "uploading");
  }

  add(files) {
    for (const file of files) {
      if (this.counted().length >= this.maxCount) {
        this.onError(`A message can carry at most ${this.maxCount} file${this.maxCount === 1 ? "" : "s"}.`);
        break;
      }
      this.upload(file);
    }
  }

  async upload(file) {
    const mimeType = mimeTypeOf(file, this.limits.accept);
    const entry = {
      file,
      name: file.name || "Pasted file",
      mimeType,
      status: "uploading",
      progress: 0,
      attachment: null,
      error: "",
      removed: false,
      controller: new AbortController(),
      localUrl: isImage(mimeType) ? URL.createObjectURL(file) : "",
    };
    entry.node = h("li");
    this.entries.push(entry);
    this.element.append(entry.node);
    this.draw(entry);
    try {
      entry.attachment = await this.api.request("attachments.create", {
        name: entry.name,
        size: file.size,
        mime_type: mimeType,
      });
      if (entry.removed) {
        await this.forget(entry);
        return;
      }
      const stored = await this.api.upload(entry.attachment.upload_descriptor, file, {
        signal: entry.controller.signal,
        onProgress: (fraction) => {
          entry.progress = fraction;
          this.drawProgress(entry);
        },
      });
      entry.attachment = stored;
      entry.status = "ready";
    } catch (error) {
      if (error.name === "AbortError" || entry.removed) return;
      // The server keeps nothing of a refused file, so there is nothing to delete.
      entry.attachment = null;
      entry.status = "failed";
      entry.error = error.message;
    }
    this.draw(entry);
  }

  /** Remove a file from the tray, and from the server. */
  async remove(entry) {
    entry.removed = true;
    entry.controller.abort();
    this.drop(entry);
    if (entry.attachment) await this.forget(entry);
  }

  async forget(entry) {
    const id = entry.attachment?.id;
    if (!id) return;
    try {
      await this.api.request("attachments.delete", { attachment_id: id });
    } catch (error) {
      if (error.status !== 404) this.onError(`Could not remove “${entry.name}”: ${error.message}`);
    }
  }

  /** Take the file off the tray without telling the server. */
  drop(entry) {
    this.entries = this.entries.filter((other) => other !== entry);
    entry.node.remove();
    if (entry.localUrl) URL.revokeObjectURL(entry.localUrl);
    this.changed();
  }

  /** The uploaded files, taken off the tray for sending (refused ones are cleared). */
  take() {
    const taken = this.ready();
    for (const entry of [...this.entries]) {
      if (entry.status !== "uploading") {
        this.entries = this.entries.filter((other) => other !== entry);
        entry.node.remove();
      }
    }
    this.changed();
    return taken;
  }

  /** Put back files whose message was not sent. */
  restore(entries) {
    for (const entry of entries) {
      this.entries.push(entry);
      this.element.append(entry.node);
    }
    this.changed();
  }

  /** Forget every file without deleting it (they now belong to a sent message). */
  release(entries) {
    for (const entry of entries) if (entry.localUrl) URL.revokeObjectURL(entry.localUrl);
  }

  changed() {
    this.element.hidden = this.entries.length === 0;
    this.onChange();
  }

  drawProgress(entry) {
    const bar = entry.node.querySelector("progress");
    if (bar) bar.value = entry.progress;
    const status = entry.node.querySelector(".ck-chip-status");
    if (status && entry.status === "uploading") status.textContent = `Uploading ${Math.round(entry.progress * 100)}%`;
  }

  draw(entry) {
    const preview = entry.attachment?.preview_url && safeUrl(entry.attachment.preview_url) ? entry.attachment.preview_url : entry.localUrl;
    const kind = preview && entry.status !== "failed" ? "image" : "file";
    const node = h("li", {
      className: `ck-chip ck-chip--${kind} is-${entry.status}`,
      dataset: { attachmentId: entry.attachment?.id || "" },
      ariaBusy: entry.status === "uploading" ? "true" : null,
    });
    if (kind === "image") {
      const image = h("img", { src: preview, alt: "", className: "ck-chip-thumb" });
      if (preview !== entry.localUrl && entry.localUrl) {
        // Keep the local copy on screen until the server's preview has loaded.
        image.addEventListener("load", () => {
          URL.revokeObjectURL(entry.localUrl);
          entry.localUrl = "";
        });
      }
      node.append(image);
    } else {
      node.append(h("span", { className: "ck-chip-icon" }, icon(entry.status === "failed" ? "alert-circle" : "file")));
    }
    let status;
    if (entry.status === "uploading") status = h("span", { className: "ck-chip-status", text: "Uploading…" });
    else if (entry.status === "failed") status = h("span", { className: "ck-chip-status ck-chip-error", role: "alert", text: entry.error });
    else status = h("span", { className: "ck-chip-status", text: formatBytes(entry.file.size) });
    node.append(h("span", { className: "ck-chip-text" }, h("span", { className: "ck-chip-name", text: entry.name, title: entry.name }), status));
    if (entry.status === "uploading") {
      node.append(h("progress", { className: "ck-chip-progress", max: 1, value: entry.progress, ariaLabel: `Uploading ${entry.name}` }));
    }
    node.append(
      h(
        "button",
        {
          type: "button",
          className: "ck-icon-button ck-chip-remove",
          ariaLabel: `Remove ${entry.name}`,
          title: "Remove",
          on: { click: () => this.remove(entry) },
        },
        icon("x"),
      ),
    );
    entry.node.replaceWith(node);
    entry.node = node;
    this.changed();
  }
}
