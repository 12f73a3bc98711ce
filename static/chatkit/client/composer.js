// The built-in client's composer: the message box, the model and assistant
// pickers (restored from a thread's last message when it opens),
// attachments (pick, drop, paste), dictation, the "@" and "/" menus
// (menus.js), and sending a message (its stream is run by stream.js).
//
// Methods of BuiltInClient (client.js), which holds the state they share.

import { AttachmentTray, renderAttachments } from "../attachments.js";
import { Dictation } from "../dictation.js";
import { h } from "../dom.js";
import { icon } from "../icons.js";
import { renderUserContent } from "./items.js";
import { statusSentence } from "./thread-list.js";

export const composerMethods = {
  /** The composer: text, model and assistant pickers, files, dictation, send and stop. */
  buildComposer() {
    const options = this.options;
    this.textarea = h("textarea", {
      className: "ck-input",
      rows: 1,
      placeholder: options.composer?.placeholder || "Message the assistant",
      ariaLabel: "Message",
      on: {
        keydown: (event) => {
          if (this.menuKeydown(event)) return;
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
    this.buildMenus();
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
      this.menuList,
      this.tray?.element,
      this.tagList,
      this.tray || this.dictation || this.mentionButton
        ? h(
            "div",
            { className: "ck-composer-tools" },
            this.attachButton,
            this.tray?.input,
            this.dictation?.button,
            this.mentionButton,
          )
        : null,
      this.textarea,
      this.dictation?.status,
      h("div", { className: "ck-composer-actions" }, this.assistantSelect, this.modelSelect, this.stopButton, this.sendButton),
    );
    if (this.tray) this.acceptDroppedFiles();
  },

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
  },

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
  },

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
  },

  currentStatusBlocks() {
    return this.thread?.status && this.thread.status.type !== "active";
  },

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
    if (this.mentionButton) this.mentionButton.disabled = Boolean(blocked);
    if (this.dictation && this.dictation.state === "idle") this.dictation.button.disabled = Boolean(blocked);
    this.textarea.placeholder = blocked
      ? statusSentence(this.thread.status)
      : this.options.composer?.placeholder || "Message the assistant";
    for (const retry of this.itemList.querySelectorAll(".ck-retry")) retry.disabled = busy;
    this.refreshQuestions();
  },

  autosize() {
    this.textarea.style.height = "auto";
    this.textarea.style.height = `${Math.min(this.textarea.scrollHeight, 200)}px`;
  },

  /** The assistant a new conversation starts with: the panel's, else the default. */
  defaultAssistant() {
    return this.config.assistant || this.config.assistants?.[0]?.id || "";
  },

  /** Show `id` in the assistant picker (when it offers that assistant). */
  selectAssistant(id) {
    if (!this.assistantSelect) return false;
    const known = [...this.assistantSelect.options].some((option) => option.value === id);
    if (known) this.assistantSelect.value = id;
    return known;
  },

  /**
   * The pickers as the thread left them: the assistant and the model of its
   * last user message (`inference_options`), so the next message goes on
   * where the conversation was. A new conversation starts from the defaults.
   */
  restoreComposerChoice(items = []) {
    const last = items.findLast((item) => item.type === "user_message");
    const options = last?.inference_options || {};
    if (!this.selectAssistant(options.tool_choice?.id || this.defaultAssistant())) {
      this.selectAssistant(this.defaultAssistant());
    }
    if (this.modelSelect) {
      const usable = [...this.modelSelect.options].filter((option) => !option.disabled).map((option) => option.value);
      const configured = (this.options.composer?.models || []).find((model) => model.default)?.id;
      const model = [options.model, configured, usable[0]].find((id) => usable.includes(id));
      if (model) this.modelSelect.value = model;
    }
  },

  inferenceOptions() {
    const options = this.modelSelect ? { model: this.modelSelect.value } : {};
    // The first assistant is the default one: naming it changes nothing.
    const assistant = this.assistantSelect?.value;
    if (assistant && assistant !== this.config.assistants[0].id) options.tool_choice = { id: assistant };
    return options;
  },

  async send(raw) {
    const text = String(raw || "").trim();
    const files = this.tray?.ready().length || 0;
    if ((!text && !files) || this.viewStream || this.currentStatusBlocks()) return;
    if (this.tray?.busy()) {
      this.showError("Wait until the files have finished uploading, or remove them.");
      return;
    }
    this.clearAlerts();
    this.closeMenu();
    const content = text ? this.contentParts(text) : [];
    const tags = this.composerTags;
    this.textarea.value = "";
    this.clearTags();
    this.autosize();
    this.startScreen.hidden = true;
    const attached = this.tray ? this.tray.take() : [];
    const attachments = attached.map((entry) => entry.attachment);
    const pending = h(
      "li",
      { className: "ck-item ck-item--user_message is-pending", dataset: { itemType: "user_message" } },
      content.length ? renderUserContent(content) : null,
      renderAttachments(attachments),
    );
    this.itemList.append(pending);
    this.scrollToEnd(true);
    const input = {
      content,
      attachments: attachments.map((attachment) => attachment.id),
      inference_options: this.inferenceOptions(),
    };
    const threadId = this.threadId;
    const request = threadId
      ? ["threads.add_user_message", { thread_id: threadId, input }]
      : ["threads.create", { input }];
    const ok = await this.runStream(...request, { threadId, pending });
    if (pending.isConnected) {
      // The server never echoed the message, so nothing was stored (it
      // failed, or refused it, as past a usage limit): give the text and
      // the files back rather than lose them.
      pending.remove();
      if (!this.textarea.value) {
        this.textarea.value = text;
        this.composerTags = tags;
        this.updateTagChips();
        this.autosize();
      }
      this.tray?.restore(attached);
      if (!this.items.size && !this.threadId) this.startScreen.hidden = false;
    } else {
      this.tray?.release(attached);
    }
  },
};
