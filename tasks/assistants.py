"""
The task assistant: the chat lists, creates, updates, completes and deletes
the signed-in user's tasks, shows them as a widget, and handles the
widget's check-boxes and buttons. When a request is ambiguous it asks
(``ask_task_details``, ``choose_tasks``: questions the user answers in the
chat); it reads the task selected on the tasks page through a client tool
(``read_selected_task``); and it offers the user's tasks to tag with ``@``.

Every tool and action works through ``tasks.services`` with
``owner=ctx.user``: another user's task id is "not found", whatever the
model or a crafted action asks for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date
from typing import Literal

from asgiref.sync import sync_to_async
from chatkit.types import (
    ClientEffectEvent,
    NoticeEvent,
    ThreadItemReplacedEvent,
    ThreadStreamEvent,
    WidgetItem,
)
from pydantic import BaseModel

from chatkit_app.assistants import (
    ActionContext,
    Assistant,
    Entity,
    ToolContext,
    ToolError,
    action,
    choice_question,
    register,
    text_question,
    tool,
)

from . import selectors, services
from .models import Task
from .widgets import ListedTask, task_list_widget, widget_copy_text

# The page listening for this effect reloads its task list.
CHANGED_EFFECT = "tasks.changed"

Priority = Literal["low", "normal", "high"]
PRIORITIES = ("low", "normal", "high")
# Most tasks one question offers to choose from.
MAX_CHOICES = 10


class SetDonePayload(BaseModel):
    task_id: int
    done: bool


class TaskPayload(BaseModel):
    task_id: int


@register
class TaskAssistant(Assistant):
    name = "tasks"
    label = "Tasks"
    description = "Manage your to-do list"
    icon = "check-circle"
    instructions = (
        "You manage the user's to-do list with the tools you have. Use them for every "
        "question about tasks; never invent tasks. After changing tasks, show the list. "
        "Refer to tasks by title, not by id. Keep answers short. "
        "When a request is ambiguous, ask instead of guessing: ask_task_details when the "
        "user wants a task added but leaves open a priority or date that matters to them, "
        "choose_tasks when several tasks could be meant. When the user says 'this task' or "
        "'the selected task', read it with read_selected_task. Tagged tasks (@title) come "
        "with their task_id."
    )

    def search_entities(self, user, query: str) -> list[Entity]:
        """The user's tasks whose title contains ``query``, open ones first."""
        tasks = selectors.task_list(owner=user, show="all")
        if query:
            tasks = tasks.filter(title__icontains=query)
        return [
            Entity(
                id=f"task-{task.pk}",
                title=task.title,
                group="Tasks",
                icon="check-circle",
                interactive=True,
                data={"task_id": str(task.pk), "done": "yes" if task.done else "no"},
            )
            for task in tasks[:MAX_CHOICES]
        ]

    # --- tools the model calls ------------------------------------------------

    @tool
    async def list_tasks(
        self,
        ctx: ToolContext,
        show: Literal["open", "done", "all"] = "open",
        due_within_days: int | None = None,
    ) -> str:
        """Show the user's tasks.

        Args:
            show: Which tasks: open ones, done ones, or all.
            due_within_days: Only tasks due within this many days from today.
        """
        await ctx.progress("Looking at your tasks…", icon="check-circle")
        tasks = await sync_to_async(list)(
            selectors.task_list(owner=ctx.user, show=show, due_within_days=due_within_days)
        )
        await self.show(ctx, tasks)
        if not tasks:
            return "The user has no such tasks."
        return "\n".join(f"{t.pk}: {t.title} ({'done' if t.done else 'open'})" for t in tasks)

    @tool
    async def add_task(
        self,
        ctx: ToolContext,
        title: str,
        due_date: date | None = None,
        priority: Priority = "normal",
    ) -> str:
        """Add a task to the user's list.

        Args:
            title: What to do, in a few words.
            due_date: When it is due (YYYY-MM-DD), if the user said.
            priority: low, normal or high.
        """
        await ctx.progress(f"Adding “{title}”…", icon="plus")
        task = await sync_to_async(services.task_create)(
            owner=ctx.user, title=title, due_date=due_date, priority=priority
        )
        await self.show_open(ctx)
        await ctx.effect(CHANGED_EFFECT, {"task_id": task.pk})
        return f"Added task {task.pk}: {task.title}."

    @tool
    async def update_task(
        self,
        ctx: ToolContext,
        task_id: int,
        title: str | None = None,
        due_date: date | None = None,
        priority: Priority | None = None,
    ) -> str:
        """Change a task's title, due date or priority.

        Args:
            task_id: The task's id, from list_tasks.
            title: The new title, if it changes.
            due_date: The new due date (YYYY-MM-DD), if it changes.
            priority: The new priority, if it changes.
        """
        task = await self._change(
            ctx,
            services.task_update,
            task_id=task_id,
            title=title,
            due_date=due_date,
            priority=priority,
        )
        return f"Updated task {task.pk}: {task.title}."

    @tool
    async def complete_task(self, ctx: ToolContext, task_id: int, done: bool = True) -> str:
        """Mark a task done (or not done again).

        Args:
            task_id: The task's id, from list_tasks.
            done: True to mark it done, False to reopen it.
        """
        task = await self._change(ctx, services.task_set_done, task_id=task_id, done=done)
        return f"Task {task.pk} is now {'done' if task.done else 'open'}."

    @tool
    async def delete_task(self, ctx: ToolContext, task_id: int) -> str:
        """Delete a task for good.

        Args:
            task_id: The task's id, from list_tasks.
        """
        try:
            await sync_to_async(services.task_delete)(owner=ctx.user, task_id=task_id)
        except Task.DoesNotExist:
            raise ToolError(f"There is no task {task_id} on the user's list.") from None
        await self.show_open(ctx)
        await ctx.effect(CHANGED_EFFECT, {"task_id": task_id})
        return f"Deleted task {task_id}."

    @tool
    async def ask_task_details(
        self,
        ctx: ToolContext,
        title: str,
        ask_priority: bool = True,
        ask_due_date: bool = False,
    ) -> str:
        """Ask the user about a task before adding it, when the request leaves its
        priority or due date open and it matters. Ends your turn: the answers come
        back in the next message; then add the task.

        Args:
            title: The task to add, in a few words.
            ask_priority: Ask which priority it gets.
            ask_due_date: Ask when it is due.
        """
        questions = []
        if ask_priority:
            questions.append(
                choice_question("priority", f"Which priority for “{title}”?", PRIORITIES)
            )
        if ask_due_date or not questions:
            questions.append(
                text_question(
                    "due_date",
                    f"When is “{title}” due?",
                    description="A date such as 2026-12-04, or “no date”.",
                )
            )
        await ctx.ask(*questions)
        return "Asked the user; their answers come in the next message."

    @tool
    async def choose_tasks(self, ctx: ToolContext, question: str, matching: str = "") -> str:
        """Ask the user which of their open tasks they mean, when several could fit
        (e.g. "finish the shopping ones"). They may pick several. Ends your turn:
        the titles they picked come back in the next message.

        Args:
            question: The question to show, e.g. "Which tasks are done?".
            matching: Only offer open tasks whose title contains this.
        """
        tasks = await sync_to_async(
            lambda: list(
                selectors.task_list(owner=ctx.user, show="open").filter(title__icontains=matching)[
                    :MAX_CHOICES
                ]
            )
        )()
        if not tasks:
            return "No open task matches; tell the user."
        await ctx.ask(
            choice_question("tasks", question, [task.title for task in tasks], multiple=True)
        )
        return "Asked the user; their choice comes in the next message."

    @tool
    async def read_selected_task(self, ctx: ToolContext) -> str:
        """Read the task the user selected on the tasks page beside the chat (when they
        say "this task" or "the selected one"). Ends your turn: the page answers with
        the task, or with selected=false when none is selected."""
        ctx.call_client_tool({})
        return "Asked the page."

    async def _change(self, ctx: ToolContext, change, **fields) -> Task:
        try:
            task = await sync_to_async(change)(owner=ctx.user, **fields)
        except Task.DoesNotExist:
            raise ToolError(f"There is no task {fields['task_id']} on the user's list.") from None
        await self.show_open(ctx)
        await ctx.effect(CHANGED_EFFECT, {"task_id": task.pk})
        return task

    async def show_open(self, ctx: ToolContext) -> None:
        tasks = await sync_to_async(list)(selectors.task_list(owner=ctx.user, show="all"))
        await self.show(ctx, tasks)

    async def show(self, ctx: ToolContext, tasks: list[Task]) -> None:
        rows = [ListedTask.of(task) for task in tasks]
        await ctx.show_widget(task_list_widget(rows), copy_text=widget_copy_text(rows))

    # --- widget actions ---------------------------------------------------------

    @action("tasks.set_done")
    async def set_done(
        self, ctx: ActionContext, payload: SetDonePayload
    ) -> AsyncIterator[ThreadStreamEvent]:
        """A check-box in the widget was ticked or unticked."""
        try:
            task = await sync_to_async(services.task_set_done)(
                owner=ctx.user, task_id=payload.task_id, done=payload.done
            )
        except Task.DoesNotExist:
            yield NoticeEvent(level="warning", message="That task no longer exists.")
            return
        async for event in self.redraw(ctx, {task.pk: ListedTask.of(task)}):
            yield event

    @action("tasks.delete")
    async def delete(
        self, ctx: ActionContext, payload: TaskPayload
    ) -> AsyncIterator[ThreadStreamEvent]:
        """The widget's delete button: acts once; the row stays, marked deleted."""
        task = await sync_to_async(
            lambda: (
                selectors.task_list(owner=ctx.user, show="all").filter(pk=payload.task_id).first()
            )
        )()
        if task is None:
            yield NoticeEvent(level="info", message="That task was already deleted.")
            return
        ghost = ListedTask.of(task, deleted=True)
        await sync_to_async(services.task_delete)(owner=ctx.user, task_id=task.pk)
        async for event in self.redraw(ctx, {task.pk: ghost}):
            yield event

    async def redraw(
        self, ctx: ActionContext, changed: dict[int, ListedTask]
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Update the clicked widget in place, and tell the page."""
        sender = ctx.sender
        if isinstance(sender, WidgetItem):
            shown = rows_of(sender)
            current = await sync_to_async(
                lambda: {
                    task.pk: ListedTask.of(task)
                    for task in selectors.task_list(owner=ctx.user, show="all").filter(
                        pk__in=[row.id for row in shown]
                    )
                }
            )()
            # What just changed, else the task as it is now, else it is gone.
            rows = [
                changed.get(row.id) or current.get(row.id) or replace(row, deleted=True)
                for row in shown
            ]
            widget = task_list_widget(rows)
            yield ThreadItemReplacedEvent(
                item=sender.model_copy(
                    update={"widget": widget, "copy_text": widget_copy_text(rows)}
                )
            )
        yield ClientEffectEvent(name=CHANGED_EFFECT, data={"task_ids": list(changed)})


def rows_of(item: WidgetItem) -> list[ListedTask]:
    """The task rows a task list widget shows (read back from its components)."""
    rows = []
    for child in item.widget.children or []:
        data = child.model_dump()
        if data.get("type") != "Row" or not str(data.get("key", "")).startswith("task-"):
            continue
        checkbox, text_col, last = data["children"][0], data["children"][1], data["children"][-1]
        rows.append(
            ListedTask(
                id=int(data["key"].removeprefix("task-")),
                title=text_col["children"][0]["value"],
                done=bool(checkbox.get("defaultChecked")),
                caption=text_col["children"][1]["value"],
                deleted=last.get("type") == "Badge",
            )
        )
    return rows
