"""
Assistants: the Django-native way to make the chat do things in the app.

An assistant is a small class in any installed app's ``assistants.py``
(autodiscovered at start-up, like ``admin.py``)::

    from chatkit_app.assistants import Assistant, ToolContext, action, register, tool

    @register
    class TaskAssistant(Assistant):
        name = "tasks"
        label = "Tasks"
        instructions = "You manage the user's to-do list."

        @tool
        async def add_task(self, ctx: ToolContext, title: str) -> str:
            \"\"\"Add a task to the user's list.\"\"\"
            task = await task_create(owner=ctx.user, title=title)
            return f"Added task {task.pk}."

        @action("tasks.complete")
        async def complete(self, ctx: ActionContext, payload: CompletePayload):
            ...

Tools are plain methods (or functions) with typed arguments: the Agents SDK
builds their JSON schema from the signature and docstring. The first
argument is a ``ToolContext`` carrying the signed-in user, so a tool can
only reach that user's data. One assistant is the default
(``CHATKIT_DEFAULT_ASSISTANT``); the composer's tool picker
(``inference_options.tool_choice``) routes a turn to another by name.
Widget actions go to the method registered for their ``type``.

The default assistant needs no code: its prompt is CHATKIT_SYSTEM_PROMPT,
its model CHATKIT_MODEL, and its tools the functions listed (dotted paths)
in CHATKIT_TOOLS.

A tool may ask the user questions and wait for the answers
(``await ctx.ask(choice_question(...), text_question(...))``) or run a tool
in the user's page (``ctx.call_client_tool({...})``); both end the turn,
and the model answers when the user (or the page) has. ``search_entities``
fills the composer's ``@`` menu with the user's things to tag.

The public names are here: ``Assistant``, ``register``, ``tool``,
``action``, ``ToolContext``, ``ActionContext``, ``ToolError``, ``Entity``,
``choice_question``, ``text_question``. Inside: ``base`` (the Assistant
classes, entities), ``tools`` (what a tool gets, and tools as the Agents
SDK sees them), ``turns`` (tools that end the turn), ``registry``
(registration, autodiscovery, lookup, entity search) and ``actions``
(widget actions dispatched to their handlers).
"""

from .actions import ActionContext, action, action_handler, payload_model
from .base import Assistant, DefaultAssistant, Entity
from .registry import (
    UnknownAssistant,
    autodiscover,
    get_assistant,
    register,
    registered,
    search_entities,
)
from .tools import (
    ToolContext,
    ToolError,
    as_function_tool,
    choice_question,
    text_question,
    tool,
)

__all__ = [
    "ActionContext",
    "Assistant",
    "DefaultAssistant",
    "Entity",
    "ToolContext",
    "ToolError",
    "UnknownAssistant",
    "action",
    "action_handler",
    "as_function_tool",
    "autodiscover",
    "choice_question",
    "get_assistant",
    "payload_model",
    "register",
    "registered",
    "search_entities",
    "text_question",
    "tool",
]
