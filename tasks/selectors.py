"""Reading tasks; every function is scoped to the owner."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, QuerySet

from .models import Task

Show = Literal["open", "done", "all"]


def task_list(
    *, owner: AbstractBaseUser, show: Show = "open", due_within_days: int | None = None
) -> QuerySet[Task]:
    tasks = Task.objects.filter(owner=owner)
    if show == "open":
        tasks = tasks.filter(done=False)
    elif show == "done":
        tasks = tasks.filter(done=True)
    if due_within_days is not None:
        tasks = tasks.filter(due_date__lte=date.today() + timedelta(days=due_within_days))
    # Dated tasks first, soonest first; undated ones after, newest first.
    return tasks.order_by("done", F("due_date").asc(nulls_last=True), "-created_at")


def task_get(*, owner: AbstractBaseUser, task_id: int) -> Task:
    """The owner's task; another user's task is DoesNotExist, like a missing one."""
    return Task.objects.get(pk=task_id, owner=owner)
