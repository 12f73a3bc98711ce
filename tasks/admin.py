"""Tasks in the admin."""

from django.contrib import admin

from .models import Task


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["title", "owner", "done", "due_date", "priority", "updated_at"]
    list_filter = ["done", "priority"]
    search_fields = ["title", "owner__username"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    date_hierarchy = "created_at"
