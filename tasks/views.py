"""
Plain Django pages for the to-do list, with the chat beside it.

They change tasks through the same services as the chat's assistant, so the
list and the chat always agree; the page reloads its list when the chat
says tasks changed (the ``tasks.changed`` client effect).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from . import selectors, services
from .forms import TaskForm
from .models import Task


@login_required
def task_list(request: HttpRequest) -> HttpResponse:
    form = TaskForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.task_create(owner=request.user, **form.cleaned_data)
        messages.success(request, "Task added.")
        return redirect("tasks:list")
    context = {
        "form": form,
        "open_tasks": selectors.task_list(owner=request.user, show="open"),
        "done_tasks": selectors.task_list(owner=request.user, show="done")[:50],
    }
    template = "tasks/_lists.html" if request.GET.get("fragment") else "tasks/task_list.html"
    return render(request, template, context)


@login_required
def task_edit(request: HttpRequest, task_id: int) -> HttpResponse:
    task = _owned(request, task_id)
    form = TaskForm(request.POST or None, instance=task)
    if request.method == "POST" and form.is_valid():
        services.task_update(owner=request.user, task_id=task.pk, **form.cleaned_data)
        messages.success(request, "Task saved.")
        return redirect("tasks:list")
    return render(request, "tasks/task_edit.html", {"form": form, "task": task})


@login_required
@require_POST
def task_toggle(request: HttpRequest, task_id: int) -> HttpResponse:
    task = _owned(request, task_id)
    services.task_set_done(owner=request.user, task_id=task.pk, done=not task.done)
    return redirect("tasks:list")


@login_required
@require_POST
def task_delete(request: HttpRequest, task_id: int) -> HttpResponse:
    task = _owned(request, task_id)
    services.task_delete(owner=request.user, task_id=task.pk)
    messages.success(request, f"Deleted “{task.title}”.")
    return redirect("tasks:list")


def _owned(request: HttpRequest, task_id: int) -> Task:
    try:
        return selectors.task_get(owner=request.user, task_id=task_id)
    except Task.DoesNotExist:
        raise Http404("No such task.") from None
