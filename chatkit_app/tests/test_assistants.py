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


def test_every_turn_offers_the_model_the_same_tools(provider, api):
    from tasks.assistants import TaskAssistant

    routed = {"inference_options": {"tool_choice": {"id": "tasks"}}}
    provider.reply("First.")
    provider.reply("Second.")
    api.start("what do I have?", **routed)
    api.start("and now?", **routed)

    first, second = (request.body["tools"] for request in provider.answer_requests())
    assert first == second
    # What a tool built afresh from each method offers: nothing is lost by
    # building them once. (Chat Completions nests the tool in "function".)
    offered = [tool.get("function", tool) for tool in first]
    fresh = [as_function_tool(func) for func in TaskAssistant().tool_functions()]
    assert [tool["name"] for tool in offered] == [tool.name for tool in fresh]
    assert [tool["parameters"] for tool in offered] == [tool.params_json_schema for tool in fresh]


def test_a_tool_method_runs_on_the_assistant_of_its_own_turn(provider, api, monkeypatch):
    from chatkit_app.assistants import registry

    class Counter(Assistant):
        name = "counter"
        made = 0

        def __init__(self) -> None:
            type(self).made += 1
            self.number = type(self).made

        @tool
        async def which(self, ctx: ToolContext) -> str:
            """Say which assistant answers."""
            return f"assistant number {self.number}"

    monkeypatch.setitem(registry._registry, "counter", Counter)
    routed = {"inference_options": {"tool_choice": {"id": "counter"}}}
    for text in ("which one?", "and now?"):
        provider.call_tools(("which", {}))
        provider.reply("Done.")
        api.start(text, **routed)

    _, after_first, _, after_second = provider.answer_requests()
    assert "assistant number 1" in str(after_first.body)
    assert "assistant number 2" in str(after_second.body)


def test_an_assistants_tools_are_built_once_and_again_when_its_functions_change(settings):
    settings.CHATKIT_TOOLS = []
    tools = DefaultAssistant().get_tools()
    assert all(a is b for a, b in zip(tools, DefaultAssistant().get_tools(), strict=True))

    settings.CHATKIT_TOOLS = [f"{__name__}.whoami"]
    assert [t.name for t in DefaultAssistant().get_tools()] == [t.name for t in tools] + ["whoami"]
    settings.CHATKIT_TOOLS = []
    assert [t.name for t in DefaultAssistant().get_tools()] == [t.name for t in tools]
