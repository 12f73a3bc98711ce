// Client tools: tools the server's assistant runs in the page (reading what
// the user selected, say). Both clients ask the page the same way: a
// `chatkit.client_tool` DOM event, dispatched on the chat's mount element
// and bubbling up to `document`, whose listener answers by calling
// `event.detail.respondWith(result)` (a value or a promise) before the
// listener returns, as a service worker answers a fetch event:
//
//   document.addEventListener("chatkit.client_tool", (event) => {
//     if (event.detail.name === "read_selected_task") {
//       event.detail.respondWith({ selected: true, task: currentTask() });
//     }
//   });
//
// This mirrors the official component's `onClientTool({name, params})`,
// which boot.js answers through the same event. The result goes back to the
// server with `threads.add_client_tool_output`; a page without a handler,
// or a handler that throws, sends `{error: "..."}` so the model can say so
// rather than wait for ever.

export const CLIENT_TOOL_EVENT = "chatkit.client_tool";

/** Ask the page to run client tool `name`; resolves with its result. */
export function requestClientTool(target, { name, params = {}, threadId = null }) {
  let answer = null;
  const detail = {
    name,
    params,
    threadId,
    respondWith(value) {
      if (answer) throw new Error(`The client tool "${name}" was already answered.`);
      answer = Promise.resolve(value);
    },
  };
  target.dispatchEvent(new CustomEvent(CLIENT_TOOL_EVENT, { bubbles: true, composed: true, detail }));
  if (!answer) return Promise.resolve({ error: `This page has no handler for the client tool "${name}".` });
  return answer.then(
    (result) => (result === undefined ? {} : result),
    (error) => ({ error: `The client tool "${name}" failed: ${error?.message || error}` }),
  );
}
