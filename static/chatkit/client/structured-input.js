// The built-in client's questions (structured input items): what an
// assistant asks and waits for. A pending item is a small form, one field
// set per question: choices as radio buttons (one answer) or check-boxes
// (several), each with room for an answer of one's own, and free-text
// questions as a text box. "Send answers" and "Skip" go to
// `threads.add_structured_input`; the server replaces the item with its
// answered (or skipped) state, which is what a reload shows, and the
// assistant answers in the same stream. While a reply is still streaming
// (a question often shows before its stream has ended) the form waits, its
// buttons off and a note saying why, and comes alive when the stream ends:
// the client runs one stream per thread at a time, as the composer does.
//
// A question left unanswered while the conversation went on (the user sent
// a message instead) is shown closed: answering it then would make the
// assistant reply to something the thread has moved past.
//
// Methods of BuiltInClient (client.js), which holds the state they share.

import { h } from "../dom.js";
import { icon } from "../icons.js";

let formCount = 0;
const WAITING_NOTE = "You can answer once the reply has finished.";
// Each pending form's own refresh (its answers decide "Send answers").
const refreshers = new WeakMap();

function answeredText(question) {
  const answer = question.answer;
  if (!answer || answer.skipped || !answer.values?.length) return null;
  return answer.values.join(", ");
}

/** The answered (or skipped) state: each question with what was said. */
function renderAnswered(item) {
  const list = h("dl", { className: "ck-question-answers" });
  for (const question of item.inputs || []) {
    const text = answeredText(question);
    list.append(
      h("dt", { text: question.question }),
      h("dd", { className: text ? "" : "is-skipped", text: text ?? "Skipped" }),
    );
  }
  return h(
    "div",
    { className: "ck-card ck-questions is-answered", dataset: { status: item.status } },
    item.status === "skipped" ? h("p", { className: "ck-question-note", text: "You skipped these questions." }) : null,
    list,
  );
}

/** One question's fields, and a function reading its answer from them. */
function questionFields(question, prefix) {
  const fieldset = h("fieldset", { className: "ck-question", dataset: { questionId: question.id, type: question.type } });
  fieldset.append(h("legend", { className: "ck-question-text", text: question.question }));
  if (question.type === "multiple_choice") {
    const multiple = Boolean(question.multiple);
    const name = `${prefix}-${question.id}`;
    const inputs = (question.options || []).map((option) =>
      h("input", { type: multiple ? "checkbox" : "radio", name, value: option.value }),
    );
    const other = h("input", {
      type: "text",
      className: "ck-question-other-input",
      placeholder: multiple ? "Something else" : "Or something else",
      ariaLabel: `Another answer to: ${question.question}`,
      maxLength: 500,
    });
    // One answer only: typing one's own clears the choice, and choosing clears it.
    if (!multiple) {
      other.addEventListener("input", () => {
        if (other.value.trim()) for (const input of inputs) input.checked = false;
      });
      for (const input of inputs) input.addEventListener("change", () => (other.value = ""));
    }
    fieldset.append(
      h(
        "div",
        { className: "ck-question-options", role: multiple ? "group" : "radiogroup", ariaLabel: question.question },
        ...inputs.map((input) => h("label", { className: "ck-question-option" }, input, h("span", { text: input.value }))),
      ),
      other,
    );
    const read = () => {
      const chosen = inputs.filter((input) => input.checked).map((input) => input.value);
      const own = other.value.trim();
      if (!multiple) return own ? [own] : chosen.slice(0, 1);
      return own ? [...chosen, own] : chosen;
    };
    return { fieldset, read };
  }
  if (question.description) fieldset.append(h("p", { className: "ck-question-description", text: question.description }));
  const box = h("textarea", {
    className: "ck-question-input",
    rows: 2,
    maxLength: 2000,
    ariaLabel: question.question,
  });
  fieldset.append(box);
  return { fieldset, read: () => (box.value.trim() ? [box.value.trim()] : []) };
}

export const structuredInputMethods = {
  /** A structured input item as DOM: the form while pending, else the answers. */
  renderStructuredInput(item) {
    if (item.status !== "pending") return renderAnswered(item);
    const prefix = `ck-q${++formCount}`;
    const fields = (item.inputs || []).map((question) => ({ question, ...questionFields(question, prefix) }));
    const send = h("button", { type: "submit", className: "ck-button ck-button--small", text: "Send answers", disabled: true });
    const skip = h("button", { type: "button", className: "ck-link-button ck-question-skip", text: "Skip" });
    const status = h("p", { className: "ck-question-note", role: "status" });
    const answers = () => {
      const out = {};
      for (const { question, read } of fields) {
        const values = read();
        out[question.id] = values.length ? { values, skipped: false } : { values: [], skipped: true };
      }
      return out;
    };
    const refresh = () => {
      const waiting = Boolean(this.viewStream);
      send.disabled = waiting || !Object.values(answers()).some((answer) => !answer.skipped);
      skip.disabled = waiting;
      status.textContent = waiting ? WAITING_NOTE : "";
    };
    const form = h(
      "form",
      {
        className: "ck-card ck-questions",
        ariaLabel: "Questions from the assistant",
        dataset: { status: "pending" },
        on: {
          input: refresh,
          change: refresh,
          submit: (event) => {
            event.preventDefault();
            this.submitStructuredInput(item, { status: "answered", answers: answers() }, form);
          },
        },
      },
      h("p", { className: "ck-questions-head" }, icon("help-circle"), h("span", { text: item.inputs?.length > 1 ? "The assistant has a few questions" : "The assistant has a question" })),
      ...fields.map(({ fieldset }) => fieldset),
      h("div", { className: "ck-question-actions" }, send, skip),
      status,
    );
    skip.addEventListener("click", () => this.submitStructuredInput(item, { status: "skipped", answers: {} }, form));
    refreshers.set(form, refresh);
    refresh();
    return form;
  },

  /** Wake (or put to wait) the open thread's pending questions: called
   * whenever a stream starts or ends, with the composer. */
  refreshQuestions() {
    for (const form of this.itemList.querySelectorAll("form.ck-questions:not(.is-superseded):not([aria-busy])")) {
      refreshers.get(form)?.();
    }
  },

  async submitStructuredInput(item, input, form) {
    const status = form.querySelector(".ck-question-note");
    // The buttons are off while a reply streams; Enter in a text box is not.
    if (this.viewStream || this.currentStatusBlocks()) return;
    const controls = [...form.querySelectorAll("input, textarea, button")];
    const wasDisabled = controls.map((control) => control.disabled);
    for (const control of controls) control.disabled = true;
    form.setAttribute("aria-busy", "true");
    status.textContent = input.status === "skipped" ? "Skipping…" : "Sending your answers…";
    this.clearAlerts();
    const ok = await this.runStream(
      "threads.add_structured_input",
      { thread_id: item.thread_id, item_id: item.id, input },
      { threadId: item.thread_id },
    );
    if (!ok && form.isConnected) {
      // Nothing was stored: the form is as it was, to try again.
      controls.forEach((control, index) => (control.disabled = wasDisabled[index]));
      form.removeAttribute("aria-busy");
      refreshers.get(form)?.();
    }
  },

  /** Close the pending questions that a later user message went past. */
  supersedeQuestions() {
    const order = this.itemsInOrder();
    const lastUser = order.findLastIndex((item) => item.type === "user_message");
    order.slice(0, Math.max(lastUser, 0)).forEach((item) => {
      if (item.type !== "structured_input" || item.status !== "pending") return;
      const form = this.items.get(item.id)?.node.querySelector("form.ck-questions");
      if (!form || form.classList.contains("is-superseded")) return;
      form.classList.add("is-superseded");
      for (const control of form.querySelectorAll("input, textarea, button")) control.disabled = true;
      form.querySelector(".ck-question-note").textContent = "Not answered: the conversation went on.";
    });
  },
};
