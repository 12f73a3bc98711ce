// Keep the task list next to the chat current: when the chat changes tasks
// (its assistant sends the "tasks.changed" client effect), reload the list.
const lists = document.getElementById("task-lists");

async function refresh() {
  const response = await fetch(lists.dataset.refreshUrl, { credentials: "same-origin" });
  if (response.ok) {
    lists.innerHTML = await response.text(); // our own server-rendered, escaped HTML
    lists.dispatchEvent(new CustomEvent("tasks.refreshed", { bubbles: true }));
  }
}

document.addEventListener("chatkit.effect", (event) => {
  if (event.detail && event.detail.name === "tasks.changed") refresh();
});
