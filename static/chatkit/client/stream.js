// The built-in client's stream reader: runs a streaming request (a message,
// a retry, answers to questions, a client tool's result; api.js reads the
// server-sent events) and applies each event to the view, stop and retry
// included.
//
// Methods of BuiltInClient (client.js), which holds the state they share.

import { ChatKitError } from "../api.js";
import { requestClientTool } from "../client-tools.js";

const STREAM_ERROR_MESSAGE = "Something went wrong while writing the reply.";

export const streamMethods = {
  /**
   * Run one streaming request; true when the server accepted it. A reply
   * that ends with a client tool call is followed by the page's answer
   * (`threads.add_client_tool_output`) and the reply to that.
   */
  async runStream(type, params, { threadId, pending = null }) {
    const stream = {
      threadId,
      pending,
      controller: new AbortController(),
      allowCancel: true,
      accepted: false,
      streamingItemIds: new Set(),
      clientToolCall: null,
    };
    const ok = await this.readStream(stream, type, params);
    if (ok && stream.clientToolCall && !stream.stopped) await this.answerClientTool(stream.clientToolCall);
    return ok;
  },

  async readStream(stream, type, params) {
    this.streams.add(stream);
    // A client tool's answer may follow in a thread the user has left.
    if (!stream.threadId || stream.threadId === this.threadId) this.viewStream = stream;
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
      if (stream.threadId) this.settleThreadRow(stream.threadId);
      if (stream === this.viewStream) {
        this.viewStream = null;
        this.progress.hidden = true;
        for (const id of stream.streamingItemIds) this.finishItem(id);
      }
      this.updateComposer();
      if (stream.threadId && stream.threadId === this.threadId) this.textarea.focus({ preventScroll: true });
    }
  },

  /**
   * The page runs a client tool the assistant called (client-tools.js: the
   * `chatkit.client_tool` event), and its result goes back to the server,
   * which lets the assistant go on.
   */
  async answerClientTool(call) {
    const shown = call.thread_id === this.threadId;
    if (shown) {
      this.progress.textContent = "Waiting for the page…";
      this.progress.hidden = false;
    }
    const result = await requestClientTool(this.mount, { name: call.name, params: call.arguments || {}, threadId: call.thread_id });
    if (shown) this.progress.hidden = true;
    // The server completes the stored call without an event: show it as a reload would.
    if (call.thread_id === this.threadId && this.items.has(call.id)) {
      this.replaceItem({ ...call, status: "completed", output: result }, { done: true });
    }
    return this.runStream("threads.add_client_tool_output", { thread_id: call.thread_id, result }, { threadId: call.thread_id });
  },

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
        // The page answers a client tool call even when another thread is shown.
        if (event.item.type === "client_tool_call" && event.item.status === "pending") stream.clientToolCall = event.item;
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
  },

  /**
   * The Stop button: the server is asked to stop the reply (it goes on
   * when the page merely goes away), and its stream then ends on its own.
   * Before the thread exists, or when the server cannot be asked, the
   * request is aborted instead.
   */
  async stop() {
    const stream = this.viewStream;
    if (!stream || stream.allowCancel === false || stream.stopped) return;
    stream.stopped = true;
    this.stopButton.disabled = true;
    if (!stream.threadId) {
      stream.controller.abort();
      return;
    }
    try {
      await this.api.stopReply(stream.threadId);
      if (stream === this.viewStream || stream.threadId === this.threadId) this.markStopped(stream);
    } catch {
      stream.controller.abort();
    }
  },

  /**
   * Reattach to the reply being written in the open thread (a reloaded
   * page, or a reply started in another tab): what it wrote so far, then
   * the rest live. Once it ends the thread is shown as stored.
   */
  async followReply(threadId) {
    if ([...this.streams].some((stream) => stream.threadId === threadId)) return;
    const stream = {
      threadId,
      pending: null,
      controller: new AbortController(),
      allowCancel: true,
      accepted: false,
      following: true,
      streamingItemIds: new Set(),
      clientToolCall: null,
    };
    this.streams.add(stream);
    if (threadId === this.threadId) this.viewStream = stream;
    this.root.dataset.following = "true";
    this.updateComposer();
    // Whether the thread should be read again once this ends: always, unless
    // the follow was abandoned. A 204 means the reply ended after the page
    // read the thread (which then lacked it): what is stored now has it.
    let settle = false;
    try {
      await this.api.followReply(threadId, {
        signal: stream.controller.signal,
        onEvent: (event) => {
          stream.accepted = true;
          // The thread is open already; a replayed start changes nothing.
          if (event.type !== "thread.created") this.handleEvent(stream, event);
        },
      });
      settle = true;
    } catch (error) {
      if (error.name !== "AbortError" && threadId === this.threadId) {
        this.showError(`Lost the reply being written. ${error.message}`, {
          retry: () => this.openThread(threadId, { push: false }),
        });
      }
    } finally {
      this.streams.delete(stream);
      if (stream === this.viewStream) {
        this.viewStream = null;
        this.progress.hidden = true;
      }
      delete this.root.dataset.following;
      this.settleThreadRow(threadId);
      this.updateComposer();
    }
    // Settle into what is stored (the finished reply, or the stopped one).
    if (settle && threadId === this.threadId && !this.viewStream) {
      await this.openThread(threadId, { push: false, follow: false });
    }
  },

  /** A thread's reply has ended: its row no longer says it is answering. */
  settleThreadRow(threadId) {
    const known = this.threads.get(threadId);
    if (!known?.metadata?.answering) return;
    const { answering, ...metadata } = known.metadata;
    this.upsertThread({ ...known, metadata });
  },

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
  },

  retryLast() {
    const user = this.lastUserMessage();
    if (user) this.retryFrom(user.id);
  },

  async refreshThreadStatus() {
    if (!this.threadId) return;
    try {
      const thread = await this.api.request("threads.get_by_id", { thread_id: this.threadId });
      if (thread.id === this.threadId) this.setThread(thread);
    } catch {
      // The error is already on screen; a stale badge is harmless.
    }
  },
};
