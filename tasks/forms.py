"""Forms of the task pages."""

from __future__ import annotations

from django import forms

from .models import Task


class TaskForm(forms.ModelForm):
    class Meta:
        model = Task
        fields = ["title", "due_date", "priority"]
        widgets = {
            "title": forms.TextInput(
                attrs={"placeholder": "What needs doing?", "autocomplete": "off"}
            ),
            "due_date": forms.DateInput(attrs={"type": "date"}),
        }
