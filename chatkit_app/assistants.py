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
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, get_type_hints

from chatkit.types import (
    ClientEffectEvent,
    ProgressUpdateEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    WidgetItem,
)
from django.utils.module_loading import autodiscover_modules, import_string
from pydantic import BaseModel

from .conf import chatkit_settings
from .context import RequestContext

if TYPE_CHECKING:
    # The Agents SDK takes seconds to import: only the server needs it, not
    # every manage.py command (this module is imported at start-up).
    from agents import FunctionTool, RunContextWrapper
    from chatkit.agents import AgentContext
    from chatkit.icons import IconName
    from chatkit.widgets import WidgetRoot

logger = logging.getLogger(__name__)


# --- what tools and actions get -------------------------------------------------


class ToolContext:
    """What a tool sees: the user, the thread, and ways to show progress and
    widgets while it runs."""

    def __init__(self, agent_context: AgentContext[RequestContext]):
        self.agent_context = agent_context

    @property
    def request(self) -> RequestContext:
        return self.agent_context.request_context

    @property
    def user(self) -> Any:
        return self.request.user

    @property
    def thread(self) -> ThreadMetadata:
        return self.agent_context.thread

    async def progress(self, text: str, icon: IconName | None = None) -> None:
        """Show what the tool is doing, until the answer arrives."""
        await self.agent_context.stream(ProgressUpdateEvent(text=text, icon=icon))

    async def show_widget(self, widget: WidgetRoot, copy_text: str | None = None) -> None:
        """Add a widget to the thread (it is stored like any other item)."""
        await self.agent_context.stream_widget(widget, copy_text)

    async def effect(self, name: str, data: dict[str, Any] | None = None) -> None:
        """Ask the page to do something (e.g. refresh a list next to the chat)."""
        await self.agent_context.stream(ClientEffectEvent(name=name, data=data or {}))


@dataclass
class ActionContext:
    """What an action handler sees: the user, the thread and the widget clicked."""

    request: RequestContext
    thread: ThreadMetadata
    sender: WidgetItem | None

    @property
    def user(self) -> Any:
        return self.request.user


ActionHandler = Callable[..., AsyncIterator[ThreadStreamEvent] | Awaitable[Any]]


def tool(func: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a method of an Assistant as a tool the model may call."""
    func._chatkit_tool = True  # type: ignore[attr-defined]
    return func


def action(action_type: str, *, sync: bool = False) -> Callable[[ActionHandler], ActionHandler]:
    """Mark a method as the handler of widget actions of ``action_type``.

    The method takes ``(self, ctx: ActionContext, payload: <pydantic model>)``;
    the payload is validated against the annotation before it is called. A
    streaming handler is an async generator of ChatKit events; a ``sync``
    handler returns the updated widget item (or None)."""

    def mark(func: ActionHandler) -> ActionHandler:
        func._chatkit_action = (action_type, sync)  # type: ignore[attr-defined]
        return func

    return mark


# --- assistants -------------------------------------------------------------------


class Assistant:
    """Subclass, set the class attributes, add ``@tool`` and ``@action`` methods."""

    #: Id used by the composer's tool picker (``inference_options.tool_choice.id``).
    name: ClassVar[str] = "assistant"
    #: Shown in the composer's tool picker.
    label: ClassVar[str] = "Assistant"
    description: ClassVar[str] = ""
    icon: ClassVar[str] = "sparkle"
    #: The system prompt; None uses CHATKIT_SYSTEM_PROMPT(_FILE).
    instructions: ClassVar[str | None] = None
    #: The model; None uses the user's choice or CHATKIT_MODEL.
    model: ClassVar[str | None] = None
    #: Extra tools: plain functions (first argument a ToolContext) or dotted paths.
    tools: ClassVar[list[Callable[..., Any] | str]] = []

    def get_instructions(self, base_prompt: str) -> str:
        return self.instructions if self.instructions is not None else base_prompt

    def tool_functions(self) -> list[Callable[..., Any]]:
        methods = [
            getattr(self, name)
            for name, member in inspect.getmembers(type(self))
            if getattr(member, "_chatkit_tool", False)
        ]
        extra = [import_string(t) if isinstance(t, str) else t for t in self.tools]
        return methods + extra

    def get_tools(self) -> list[FunctionTool]:
        return [as_function_tool(func) for func in self.tool_functions()]

    def action_handlers(self) -> dict[str, tuple[Callable[..., Any], bool]]:
        handlers = {}
        for name, member in inspect.getmembers(type(self)):
            marker = getattr(member, "_chatkit_action", None)
            if marker is not None:
                action_type, sync = marker
                handlers[action_type] = (getattr(self, name), sync)
        return handlers


class DefaultAssistant(Assistant):
    """The assistant that answers unless a turn picks another: configured by
    settings alone (CHATKIT_SYSTEM_PROMPT, CHATKIT_MODEL, CHATKIT_TOOLS)."""

    name = "assistant"
    label = "Assistant"

    def tool_functions(self) -> list[Callable[..., Any]]:
        configured = [import_string(path) for path in chatkit_settings.TOOLS]
        return super().tool_functions() + configured


# --- the registry -----------------------------------------------------------------

_registry: dict[str, type[Assistant]] = {}


def register(cls: type[Assistant]) -> type[Assistant]:
    """Class decorator: make an assistant available by its ``name``."""
    existing = _registry.get(cls.name)
    if existing is not None and existing is not cls and existing is not DefaultAssistant:
        raise ValueError(f"Two assistants are named {cls.name!r}: {existing} and {cls}.")
    _registry[cls.name] = cls
    return cls


def autodiscover() -> None:
    """Import every installed app's ``assistants`` module (from AppConfig.ready)."""
    autodiscover_modules("assistants")


def registered() -> dict[str, type[Assistant]]:
    return dict(_registry)


class UnknownAssistant(LookupError):
    pass


def get_assistant(name: str | None = None) -> Assistant:
    """The assistant called ``name``, or the default one."""
    wanted = name or chatkit_settings.DEFAULT_ASSISTANT
    cls = _registry.get(wanted)
    if cls is None:
        if name is None and wanted == DefaultAssistant.name:
            return DefaultAssistant()
        raise UnknownAssistant(wanted)
    return cls()


def action_handler(action_type: str) -> tuple[Callable[..., Any], bool] | None:
    """The handler of ``action_type`` among all registered assistants."""
    for cls in _registry.values():
        handlers = cls().action_handlers()
        if action_type in handlers:
            return handlers[action_type]
    return None


def payload_model(handler: Callable[..., Any]) -> type[BaseModel] | None:
    hints = get_type_hints(handler)
    model = hints.get("payload")
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


# --- tools for the Agents SDK --------------------------------------------------------


def as_function_tool(func: Callable[..., Any]) -> FunctionTool:
    """An Agents SDK tool from a function whose first argument is a ToolContext.

    The SDK reads the schema from the signature; it only recognises its own
    context type, so the tool it sees takes the SDK's RunContextWrapper and
    the rest of ``func``'s arguments, with their annotations resolved in
    ``func``'s own module."""
    from agents import RunContextWrapper, function_tool

    signature = inspect.signature(func)
    params = list(signature.parameters.values())
    if not params:
        raise TypeError(f"Tool {func.__qualname__} must take a ToolContext as first argument.")
    # Keyword-only, so the SDK passes every argument by name to ``invoke``.
    rest = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params[1:]]
    hints = get_type_hints(func)

    async def invoke(wrapper: RunContextWrapper[AgentContext], **kwargs: Any) -> Any:
        result = func(ToolContext(wrapper.context), **kwargs)
        return await result if inspect.isawaitable(result) else result

    context_param = inspect.Parameter(
        "wrapper", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=RunContextWrapper
    )
    invoke.__signature__ = signature.replace(parameters=[context_param, *rest])  # type: ignore[attr-defined]
    invoke.__annotations__ = {
        "wrapper": RunContextWrapper,
        **{p.name: hints.get(p.name, Any) for p in rest},
        "return": hints.get("return", Any),
    }
    invoke.__name__ = func.__name__
    invoke.__qualname__ = func.__qualname__
    invoke.__doc__ = func.__doc__
    invoke.__module__ = func.__module__
    return function_tool(invoke, failure_error_function=tool_failure_message)


def tool_failure_message(context: RunContextWrapper[Any], error: Exception) -> str:
    """What the model is told when a tool raises: enough to explain it to the
    user in words, nothing internal."""
    if isinstance(error, ToolError):
        return f"The tool failed: {error}"
    logger.error("Tool failed", exc_info=error)
    return "The tool failed with an internal error. Tell the user it did not work."


class ToolError(Exception):
    """Raise from a tool with a message the model may repeat to the user."""
