"""App configuration for chatkit_app."""

from django.apps import AppConfig


class ChatkitAppConfig(AppConfig):
    name = "chatkit_app"
    verbose_name = "ChatKit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import assistants, checks  # noqa: F401  (checks registers system checks)

        assistants.register(assistants.DefaultAssistant)
        assistants.autodiscover()
