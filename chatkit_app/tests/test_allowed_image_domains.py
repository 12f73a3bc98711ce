"""A thread's ``allowed_image_domains`` (SDK thread metadata, stored on the
conversation): a tool that sets it on ``ctx.thread`` has it saved and sent
to the client (``thread.updated``), and every later read of the thread
carries it, which is what the built-in client limits images by."""

from __future__ import annotations

import pytest

from chatkit_app.assistants import ToolContext
from chatkit_app.models import Conversation

from .chatkit_client import ApiClient, events_of

pytestmark = pytest.mark.django_db


def allow_catalogue_images(ctx: ToolContext) -> str:
    """Show product pictures from the catalogue."""
    ctx.thread.allowed_image_domains = ["images.example.org"]
    return "Pictures from images.example.org can be shown."


def test_a_tool_limits_the_threads_images_and_the_client_is_told(provider, settings, alice):
    settings.CHATKIT_TOOLS = [f"{__name__}.allow_catalogue_images"]
    provider.call_tools(("allow_catalogue_images", {}))
    provider.reply("Here: ![a lamp](https://images.example.org/lamp.png)")
    api = ApiClient(alice)
    thread_id, events = api.start("Show me the lamp")

    updated = [e["thread"] for e in events_of(events, "thread.updated")]
    assert updated
    assert updated[-1]["allowed_image_domains"] == ["images.example.org"]
    assert Conversation.objects.get(pk=thread_id).allowed_image_domains == ["images.example.org"]
    thread = api({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}).json()
    assert thread["allowed_image_domains"] == ["images.example.org"]
    listed = api({"type": "threads.list", "params": {"limit": 5}}).json()["data"]
    assert listed[0]["allowed_image_domains"] == ["images.example.org"]
