"""Changing tasks: the pages, the admin and the chat assistant all go through
these functions, each scoped to the owner."""

from __future__ import annotations

from datetime import date

from django.contrib.auth.models import AbstractBaseUser

from .models import Task
from .selectors import task_get


def task_create(
    *,
    owner: AbstractBaseUser,
    title: str,
    due_date: date | None = None,
    priority: str = Task.Priority.NORMAL,
) -> Task:
    task = Task(owner=owner, title=title.strip()[:200], due_date=due_date, priority=priority)
    task.full_clean()
    task.save()
    return task


def task_update(
    *,
    owner: AbstractBaseUser,
    task_id: int,
    title: str | None = None,
    due_date: date | None = None,
    priority: str | None = None,
    done: bool | None = None,
) -> Task:
    task = task_get(owner=owner, task_id=task_id)
    if title is not None:
        task.title = title.strip()[:200]
    if due_date is not None:
        task.due_date = due_date
    if priority is not None:
        task.priority = priority
    if done is not None:
        task.done = done
    task.full_clean()
    task.save()
    return task


def task_set_done(*, owner: AbstractBaseUser, task_id: int, done: bool = True) -> Task:
    return task_update(owner=owner, task_id=task_id, done=done)


def task_delete(*, owner: AbstractBaseUser, task_id: int) -> None:
    task_get(owner=owner, task_id=task_id).delete()
