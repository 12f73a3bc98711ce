// The built-in client's conversation list (the history panel): pages of
// threads, each with rename and delete, the open one marked.
//
// Methods of BuiltInClient (client.js), which holds the state they share.

import { h } from "../dom.js";
import { icon } from "../icons.js";

const THREADS_PAGE = 20;

export function threadTitle(thread) {
  return (thread && thread.title) || "New conversation";
}

export function statusSentence(status) {
  if (!status || status.type === "active") return "";
  const what = status.type === "locked" ? "locked" : "closed";
  return status.reason ? `This conversation is ${what}: ${status.reason}` : `This conversation is ${what}.`;
}

export const threadListMethods = {
  /** The conversation list: the history panel, filled by loadThreads. */
  buildThreadList(history) {
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
  },

  async loadThreads({ more = false } = {}) {
    const params = { limit: THREADS_PAGE, order: "desc" };
    if (more && this.threadsAfter) params.after = this.threadsAfter;
    this.moreThreads.disabled = true;
    // What streams and renames say while the first page is on its way is
    // newer than the page (a thread created, its title set): it is kept.
    const newer = more ? null : new Map();
    if (newer) this.threadsChangedDuringLoad = newer;
    try {
      const page = await this.api.request("threads.list", params);
      if (!more) {
        this.threads.clear();
        this.threadList.replaceChildren();
      }
      const listed = new Set(page.data.map((thread) => thread.id));
      for (const thread of page.data) {
        const change = newer?.get(thread.id);
        if (change !== null) this.upsertThread(change ? { ...thread, ...change } : thread, { listed: true });
      }
      for (const [id, change] of newer || []) {
        if (change && !listed.has(id)) this.upsertThread(change, { prepend: true, listed: true });
      }
      this.threadsAfter = page.after || null;
      this.moreThreads.hidden = !page.has_more;
    } catch (error) {
      this.showError(`Could not load your conversations. ${error.message}`);
    } finally {
      if (newer && this.threadsChangedDuringLoad === newer) this.threadsChangedDuringLoad = null;
      this.moreThreads.disabled = false;
      this.noThreads.hidden = this.threads.size > 0;
    }
  },

  /** A thread gone from the list (deleted here, or found missing). */
  forgetThread(threadId) {
    this.threads.delete(threadId);
    this.threadsChangedDuringLoad?.set(threadId, null);
    this.threadList.querySelector(`li[data-thread-id="${CSS.escape(threadId)}"]`)?.remove();
    this.noThreads.hidden = this.threads.size > 0;
  },

  upsertThread(thread, { prepend = false, listed = false } = {}) {
    const known = this.threads.get(thread.id);
    const merged = { ...(known || {}), ...thread };
    this.threads.set(thread.id, merged);
    if (!listed) this.threadsChangedDuringLoad?.set(thread.id, merged);
    let row = this.threadList.querySelector(`li[data-thread-id="${CSS.escape(thread.id)}"]`);
    const fresh = this.threadRow(merged);
    if (row) row.replaceWith(fresh);
    else if (prepend) this.threadList.prepend(fresh);
    else this.threadList.append(fresh);
    this.noThreads.hidden = true;
    row = fresh;
    return row;
  },

  threadRow(thread) {
    const current = thread.id === this.threadId;
    const row = h("li", {
      className: "ck-thread",
      // A reply is still being written there (runs/: metadata.answering).
      dataset: { threadId: thread.id, answering: thread.metadata?.answering ? "true" : "false" },
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
    const answering = thread.metadata?.answering
      ? h("span", { className: "ck-thread-answering ck-muted", text: "Answering…", title: "A reply is being written" })
      : null;
    row.append(open, ...(answering ? [answering] : []), h("span", { className: "ck-thread-actions" }, rename, remove));
    return row;
  },

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
  },

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
            this.forgetThread(thread.id);
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
  },

  markCurrentThread() {
    for (const row of this.threadList.children) {
      if (row.dataset.threadId === this.threadId) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
    }
  },
};
