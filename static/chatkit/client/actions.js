// The built-in client's widget actions: a click on a widget's button, box or
// form becomes a DOM event for the page or a request to the server.
//
// Methods of BuiltInClient (client.js), which holds the state they share.

export const actionMethods = {
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
  },
};
