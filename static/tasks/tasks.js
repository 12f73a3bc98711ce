// The tasks page beside the chat.
//
// - When the chat changes tasks (its assistant sends the "tasks.changed"
//   client effect), the list reloads.
// - A click on a task's title selects it; the assistant reads the selected
//   task through the "read_selected_task" client tool (the page answers the
//   chat's `chatkit.client_tool` event, whichever client the chat runs).
// - A click on a tagged task in the chat (`chatkit.entity.click`) selects it.
const lists = document.getElementById("task-lists");
let selectedId = null;

function taskRow(id) {
  return lists.querySelector(`.task[data-task-id="${CSS.escape(String(id))}"]`);
}

function select(id) {
  selectedId = id && taskRow(id) ? String(id) : null;
  for (const row of lists.querySelectorAll(".task")) {
    const on = row.dataset.taskId === selectedId;
    row.classList.toggle("task--selected", on);
    row.querySelector(".task-select")?.setAttribute("aria-pressed", String(on));
  }
}

function selectedTask() {
  const row = selectedId && taskRow(selectedId);
  if (!row) return { selected: false };
  return {
    selected: true,
    task: {
      id: Number(row.dataset.taskId),
      title: row.dataset.title,
      done: row.dataset.done === "true",
      due_date: row.dataset.dueDate || null,
      priority: row.dataset.priority,
    },
  };
}

async function refresh() {
  const response = await fetch(lists.dataset.refreshUrl, { credentials: "same-origin" });
  if (response.ok) {
    lists.innerHTML = await response.text(); // our own server-rendered, escaped HTML
    select(selectedId); // the same task stays selected, if it is still there
    lists.dispatchEvent(new CustomEvent("tasks.refreshed", { bubbles: true }));
  }
}

lists.addEventListener("click", (event) => {
  const button = event.target.closest(".task-select");
  if (!button) return;
  const id = button.closest(".task").dataset.taskId;
  select(id === selectedId ? null : id);
});

document.addEventListener("chatkit.effect", (event) => {
  if (event.detail && event.detail.name === "tasks.changed") refresh();
});

document.addEventListener("chatkit.client_tool", (event) => {
  if (event.detail.name === "read_selected_task") event.detail.respondWith(selectedTask());
});

document.addEventListener("chatkit.entity.click", (event) => {
  const taskId = event.detail.entity?.data?.task_id;
  if (taskId) select(taskId);
});
