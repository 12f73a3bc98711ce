"""The tasks demo app: a to-do list that the chat manages through an assistant."""

from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"
    verbose_name = "Tasks (demo)"
    default_auto_field = "django.db.models.BigAutoField"
