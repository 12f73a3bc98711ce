"""ChatKit widgets of the tasks app, built from ``.widget`` templates."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from chatkit.widgets import DynamicWidgetRoot, WidgetTemplate

from tasks.models import Task

TASK_LIST = WidgetTemplate.from_file(str(Path(__file__).with_name("task_list.widget")))


@dataclass
class ListedTask:
    """A row of the task list widget: a task, or the ghost of a deleted one."""

    id: int
    title: str
    done: bool
    caption: str
    deleted: bool = False

    @classmethod
    def of(cls, task: Task, *, deleted: bool = False) -> ListedTask:
        parts = []
        if task.due_date:
            parts.append(f"Due {task.due_date:%a %d %b %Y}")
        if task.priority != Task.Priority.NORMAL:
            parts.append(f"{task.get_priority_display()} priority")
        if task.done:
            parts.append("Done")
        return cls(task.pk, task.title, task.done, " · ".join(parts) or "No due date", deleted)


def task_list_widget(rows: Iterable[ListedTask], heading: str = "Your tasks") -> DynamicWidgetRoot:
    rows = list(rows)
    open_count = sum(1 for r in rows if not r.done and not r.deleted)
    done_count = sum(1 for r in rows if r.done and not r.deleted)
    return TASK_LIST.build(
        {
            "heading": heading,
            "tasks": [vars(r) for r in rows],
            "summary": f"{open_count} open, {done_count} done",
        }
    )


def widget_copy_text(rows: Iterable[ListedTask]) -> str:
    return "\n".join(f"[{'x' if r.done else ' '}] {r.title}" for r in rows if not r.deleted)
