"""Assistants as a pattern any project can follow: registration, tools from
typed functions, and the default assistant configured by settings alone."""

from __future__ import annotations

import pytest
from chatkit.types import ThreadMetadata

from chatkit_app.assistants import (
    Assistant,
    DefaultAssistant,
    ToolContext,
    as_function_tool,
    get_assistant,
    register,
    registered,
    tool,
)

from .chatkit_client import ApiClient, streamed_text

pytestmark = pytest.mark.django_db


async def whoami(ctx: ToolContext, shout: bool = False) -> str:
    """Say who the signed-in user is.

    Args:
        shout: Upper-case the answer.
    """
    name = ctx.user.get_username()
    return name.upper() if shout else name


def test_a_tool_schema_comes_from_the_typed_signature_and_docstring():
    function = as_function_tool(whoami)
    assert function.name == "whoami"
    assert function.description == "Say who the signed-in user is."
    schema = function.params_json_schema
    assert list(schema["properties"]) == ["shout"]
    assert schema["properties"]["shout"]["type"] == "boolean"
    assert schema["properties"]["shout"]["description"] == "Upper-case the answer."


def test_the_default_assistant_takes_its_tools_prompt_and_model_from_settings(
    provider, settings, alice
):
    settings.CHATKIT_TOOLS = [f"{__name__}.whoami"]
    settings.CHATKIT_SYSTEM_PROMPT = "You are the front desk."
    provider.call_tools(("whoami", {"shout": True}))
    provider.reply("You are ALICE.")
    _, events = ApiClient(alice).start("who am I?")

    assert streamed_text(events) == "You are ALICE."
    first, second = provider.answer_requests()
    assert first.messages()[0] == ("system", "You are the front desk.")
    assert first.body["model"] == "fake-model"
    assert "ALICE" in str(second.body), "the tool ran as the signed-in user"


def test_assistants_in_installed_apps_are_discovered():
    assert {"assistant", "tasks"} <= set(registered())
    assert isinstance(get_assistant(), DefaultAssistant)
    assert get_assistant("tasks").label == "Tasks"


def test_the_default_assistant_is_a_setting(settings):
    settings.CHATKIT_DEFAULT_ASSISTANT = "tasks"
    assert get_assistant().name == "tasks"


def test_two_assistants_cannot_share_a_name():
    class Impostor(Assistant):
        name = "tasks"

    with pytest.raises(ValueError, match="Two assistants are named 'tasks'"):
        register(Impostor)
    assert registered()["tasks"] is not Impostor


def test_an_assistant_with_its_own_instructions_ignores_the_site_prompt():
    class Poet(Assistant):
        name = "poet"
        instructions = "Answer in verse."

        @tool
        async def rhyme(self, ctx: ToolContext, word: str) -> str:
            """Find a rhyme."""
            return word + "ity"

    poet = Poet()
    assert poet.get_instructions("You are helpful.") == "Answer in verse."
    assert [t.name for t in poet.get_tools()] == ["rhyme"]
    assert DefaultAssistant().get_instructions("You are helpful.") == "You are helpful."


def test_a_tool_context_exposes_the_user_and_thread(alice, ctx):
    from datetime import datetime

    from chatkit.agents import AgentContext

    from chatkit_app.store import DjangoStore

    thread = ThreadMetadata(id="thr_x", created_at=datetime.now())
    agent_context = AgentContext(thread=thread, store=DjangoStore(), request_context=ctx(alice))
    tool_context = ToolContext(agent_context)
    assert tool_context.user == alice
    assert tool_context.thread.id == "thr_x"
