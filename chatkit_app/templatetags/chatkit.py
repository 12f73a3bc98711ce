"""
``{% chatkit_panel %}``: the chat, embeddable in any project template.

    {% load chatkit %}
    {% chatkit_panel %}                                  {# fills its container #}
    {% chatkit_panel layout="sidebar" %}                 {# a panel at the right edge #}
    {% chatkit_panel layout="modal" label="Ask us" %}    {# a button that opens a dialog #}
    {% chatkit_panel assistant="tasks" %}                {# messages go to that assistant #}

The panel loads the official ``<openai-chatkit>`` component when its script
arrives in time and the built-in client otherwise. Anonymous visitors see a
sign-in link instead. Each panel carries its own configuration, so one page
can hold several.

The tag is here because Django finds template tags only in an app's
``templatetags/``; what it hands the page comes from ``ui/options.py``.
"""

from __future__ import annotations

import secrets
from typing import Any

from django import template
from django.template.context import Context

from ..ui.options import LAYOUTS, check_assistant, page_config

register = template.Library()


@register.inclusion_tag("chatkit/panel.html", takes_context=True)
def chatkit_panel(
    context: Context,
    layout: str = "full",
    thread: str | None = None,
    label: str = "Chat",
    follow_url: bool = False,
    assistant: str | None = None,
) -> dict[str, Any]:
    if layout not in LAYOUTS:
        raise template.TemplateSyntaxError(
            f"chatkit_panel: layout must be one of {', '.join(LAYOUTS)}, not {layout!r}."
        )
    if assistant:
        try:
            check_assistant(assistant)
        except ValueError as exc:
            raise template.TemplateSyntaxError(f"chatkit_panel: {exc}") from None
    request = context.get("request")
    if request is None:
        raise template.TemplateSyntaxError(
            "chatkit_panel needs the request in the template context "
            "(django.template.context_processors.request)."
        )
    user = getattr(request, "user", None)
    signed_in = bool(user and user.is_authenticated)
    panel_id = f"chatkit-{layout}-{secrets.token_hex(4)}"
    return {
        "request": request,
        "layout": layout,
        "label": label,
        "panel_id": panel_id,
        "config_id": f"{panel_id}-config",
        "signed_in": signed_in,
        "config": page_config(
            request,
            layout=layout,
            initial_thread=thread or None,
            follow_url=follow_url,
            assistant=assistant or None,
        )
        if signed_in
        else None,
    }
