"""
App configuration, and the one place where chatkit_app's concerns are
plugged into its core.

The core (the top-level modules: models, services, store, server, views…)
imports none of the subpackages; ``tests/test_layout.py`` keeps it so. The
concerns plug in here, in these Django-idiomatic ways:

- Something was saved: the core sends a signal (``signals.py``) and
  ``live/publish.py`` (and ``limits/receivers.py``, for model usage)
  receives it (connected by importing it in ``ready``).
- A bearer token's query also reads what a concern needs of its user
  (the usage limits: ``limits.policy.TOKEN_PRELOAD``), added to
  ``tokens.USER_PRELOADS`` in ``ready``.
- The ChatKit server's collaborators (the responder, the checks of a new
  message, widget actions, transcription, the live relay, the attachment
  store and its signed links, the usage limiter) are handed to it as
  arguments, the way the SDK itself takes its stores: ``build_server``
  below assembles them (``server.get_server`` asks for it once).

Each concern also registers what Django looks for: system checks
(``responders/checks.py``, ``ui/checks.py``, ``limits/checks.py``), the
assistants of every installed app (autodiscovered like ``admin.py``), the
admin (``admin/``), template tags (``templatetags/``) and URLs (``urls.py``
includes them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig
from django.contrib.admin import AdminSite
from django.contrib.admin import apps as admin_apps

if TYPE_CHECKING:
    from django.urls import URLPattern, URLResolver

    from .server import ChatSiteServer


class ChatkitAppConfig(AppConfig):
    # The app's config, of the two in this module.
    default = True
    name = "chatkit_app"
    verbose_name = "ChatKit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported for what importing them registers: system checks, and
        # the live events' receivers of the core's signals.
        from . import checks  # noqa: F401
        from .assistants import DefaultAssistant, autodiscover, register
        from .limits import checks as limit_checks  # noqa: F401
        from .limits import receivers  # noqa: F401
        from .limits.policy import TOKEN_PRELOAD
        from .live import publish  # noqa: F401
        from .request_errors import quiet_client_errors
        from .responders import checks as responder_checks  # noqa: F401
        from .runs import checks as run_checks  # noqa: F401
        from .tokens import USER_PRELOADS
        from .ui import checks as ui_checks  # noqa: F401

        USER_PRELOADS["limits"] = TOKEN_PRELOAD
        register(DefaultAssistant)
        autodiscover()
        # The SDK logs a client's 404 inside a stream as a crash.
        quiet_client_errors()

    def build_server(self) -> ChatSiteServer:
        """The ChatKit server with chatkit_app's concerns plugged in.

        Called once, by ``server.get_server``. The imports are here rather
        than in ``ready`` because the server and the responders bring the
        Agents SDK, which takes seconds to import: management commands that
        never answer a message do not pay for it.
        """
        from .assistants.actions import resolve, run_sync_action, stream_action
        from .assistants.registry import check_tool_choice
        from .attachments.links import SignedLinks
        from .attachments.store import DjangoAttachmentStore, check_message_attachments
        from .handoff.guard import answered_by_person, guarded
        from .handoff.responder import handoff_aware
        from .limits.gate import Gate
        from .live.relay import relay
        from .responders.respond import check_model, respond
        from .responders.transcription import transcribe
        from .runs.owner import own
        from .server import ChatSiteServer
        from .store import DjangoStore

        return ChatSiteServer(
            DjangoStore(links=SignedLinks()),
            DjangoAttachmentStore(),
            # Quiet while a person has taken the thread over (handoff/).
            responder=handoff_aware(respond),
            # In this order: the first that refuses decides the error.
            input_checks=(check_model, check_tool_choice, check_message_attachments),
            action_check=resolve,
            action_streamer=stream_action,
            sync_action_runner=run_sync_action,
            transcriber=transcribe,
            relay=relay,
            # Retries and widget actions refused, and a message to a person
            # no turn, while a person has taken the thread over (handoff/).
            limiter=guarded(Gate(answered_without_model=answered_by_person)),
            runs=own,
        )


class ChatSiteAdminSite(AdminSite):
    """Django's admin site, plus the staff dashboard (``admin/dashboard/``)
    at ``/admin/dashboard/`` and the review queue (``admin/review.py``) at
    ``/admin/review/``, linked from the index page.

    Defined here, not in ``admin/``: Django imports the default site's
    class while it autodiscovers the ``admin`` modules, and importing the
    ``admin`` package registers models on ``admin.site`` (this very site,
    not yet built).
    """

    index_template = "admin/chatkit_app/index.html"

    def get_urls(self) -> list[URLPattern | URLResolver]:
        from django.urls import path

        from .admin.dashboard.views import dashboard_view
        from .admin.review import review_site_urls

        return [
            path(
                "dashboard/",
                self.admin_view(lambda request: dashboard_view(self, request)),
                name="dashboard",
            ),
            *review_site_urls(self),
            *super().get_urls(),
        ]


class ChatSiteAdminConfig(admin_apps.AdminConfig):
    """``django.contrib.admin`` with ``ChatSiteAdminSite`` as ``admin.site``
    (in ``INSTALLED_APPS`` in its place)."""

    default = False
    default_site = "chatkit_app.apps.ChatSiteAdminSite"
