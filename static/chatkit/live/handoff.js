// The watch page's handoff panel: who answers the conversation (the
// assistant, or a person who took it over), and for staff who may change
// conversations the buttons to take it over and hand it back, and a box to
// reply to the user as themselves (chatkit_app/admin/handoff.py).
//
// The buttons only ask; what happened comes back over the page's socket
// ("handoff" events, and the reply as an "item"), as it does for every
// other staff member watching.

import { formatTime } from "./render.js";

function csrfToken(form) {
  return form?.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";
}

function sentence(event, me) {
  switch (event.state) {
    case "requested":
      return `The user asked for a person${event.reason ? ` (${event.reason})` : ""} at ${formatTime(event.requested_at)}. Nobody has taken over yet.`;
    case "taken_over":
      return event.taken_over_by === me
        ? `You have taken this conversation over (since ${formatTime(event.taken_over_at)}): the assistant does not answer; your replies reach the user.`
        : `${event.person || event.taken_over_by} has taken this conversation over (since ${formatTime(event.taken_over_at)}): the assistant does not answer.`;
    case "handed_back":
      return `Handed back to the assistant at ${formatTime(event.handed_back_at)}; the assistant answers.`;
    default:
      return "The assistant answers this conversation.";
  }
}

export function setUpHandoff(root) {
  const config = JSON.parse(document.getElementById("ck-handoff-config").textContent);
  const panel = root.querySelector(".ck-handoff");
  const state = panel.querySelector(".ck-handoff-state");
  const error = panel.querySelector(".ck-handoff-error");
  const take = panel.querySelector(".ck-handoff-take");
  const back = panel.querySelector(".ck-handoff-back");
  const form = panel.querySelector(".ck-handoff-reply");
  const token = csrfToken(form);

  function show(event) {
    panel.dataset.state = event.state || "";
    state.textContent = sentence(event, config.staff);
    const takenOver = event.state === "taken_over";
    if (take) take.hidden = takenOver;
    if (back) back.hidden = !takenOver;
    if (form) form.hidden = !takenOver;
  }

  async function post(url, body) {
    error.hidden = true;
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": token, "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
    });
    if (!response.ok) {
      let message = `The server answered ${response.status}.`;
      try {
        message = (await response.json()).error?.message || message;
      } catch {
        // Not JSON: the status says enough.
      }
      error.textContent = message;
      error.hidden = false;
      return null;
    }
    return response.json();
  }

  take?.addEventListener("click", async () => {
    take.disabled = true;
    const answer = await post(config.urls["take-over"]);
    take.disabled = false;
    if (answer) show(answer);
  });
  back?.addEventListener("click", async () => {
    back.disabled = true;
    const answer = await post(config.urls["hand-back"]);
    back.disabled = false;
    if (answer) show(answer);
  });
  form?.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    const text = form.elements.text;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const answer = await post(config.urls.reply, { text: text.value });
    button.disabled = false;
    if (answer) text.value = "";
  });
  form?.elements.text.addEventListener("keydown", (key) => {
    if (key.key === "Enter" && (key.ctrlKey || key.metaKey)) form.requestSubmit();
  });

  show(config.state);
  return show;
}
