"""
HTML pages: the chat page (``/`` and ``/threads/<id>``) and the embedding
demo; and ``/favicon.ico``, which browsers ask for on every site. The
``/chatkit`` protocol endpoint lives in chatkit_app/views.py.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_safe

from .. import selectors
from ..models import Conversation
from ..responders.providers import current_provider
from .options import LAYOUTS


@login_required
@ensure_csrf_cookie  # the page's fetch reads the token from this cookie
def chat(request: HttpRequest, thread_id: str | None = None) -> HttpResponse:
    """The chat, full page; with ``thread_id``, that conversation opened."""
    if thread_id is not None:
        try:
            conversation = selectors.conversation_get(owner=request.user, conversation_id=thread_id)
        except Conversation.DoesNotExist:
            # Someone else's thread looks exactly like one that never existed.
            raise Http404("No such conversation.") from None
        title = conversation.title
    else:
        title = ""
    return render(
        request,
        "chatkit/chat.html",
        {"thread_id": thread_id, "thread_title": title, "offline": current_provider().offline},
    )


@ensure_csrf_cookie
def demo(request: HttpRequest) -> HttpResponse:
    """A stand-in for any project page, embedding the chat in the chosen layout."""
    layout = request.GET.get("layout", "sidebar")
    if layout not in LAYOUTS:
        layout = "sidebar"
    label = ' label="Ask the assistant"' if layout == "modal" else ""
    snippet = f'{{% load chatkit %}}\n{{% chatkit_panel layout="{layout}"{label} %}}'
    return render(
        request,
        "chatkit/demo.html",
        {"layout": layout, "layouts": LAYOUTS, "snippet": snippet},
    )


@require_safe
@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for ``/favicon.ico`` whatever the page links: send them
    to the static icon (its hashed, long-cached name in production)."""
    return HttpResponseRedirect(static("favicon.ico"))
