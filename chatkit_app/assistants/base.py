"""
The ``Assistant`` class an app subclasses, and the default assistant that
settings alone configure (see the package's docstring for an example), and
``Entity``: what an assistant offers the composer's ``@`` menu.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from django.utils.module_loading import import_string

from ..conf import chatkit_settings
from .tools import ToolContext, as_function_tool

if TYPE_CHECKING:
    # The Agents SDK takes seconds to import: only the server needs it, not
    # every manage.py command (this module is imported at start-up).
    from agents import FunctionTool


@dataclass(frozen=True)
class Entity:
    """Something of the user's that a message can tag (``@`` in the composer),
    in the shape of ``@openai/chatkit``'s ``Entity``. A tagged message
    carries it as an ``input_tag`` part (``id``, ``text`` = ``title``,
    ``group``, ``data``), which the model receives with its ``data``."""

    id: str
    title: str
    group: str = ""
    icon: str = ""
    interactive: bool = False
    #: Strings only (the component's type); the model sees them.
    data: dict[str, str] = field(default_factory=dict)

    def as_option(self) -> dict[str, Any]:
        """The JSON the composer gets."""
        option: dict[str, Any] = {"id": self.id, "title": self.title, "data": dict(self.data)}
        if self.group:
            option["group"] = self.group
        if self.icon:
            option["icon"] = self.icon
        if self.interactive:
            option["interactive"] = True
        return option


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

    def search_entities(self, user: Any, query: str) -> list[Entity]:
        """What the composer's ``@`` menu offers for ``query`` (what the user
        typed after ``@``; may be empty): ``user``'s own things only. Runs
        in a thread, so the ORM may be used. None by default."""
        return []

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
        """The Agents SDK tools of ``tool_functions()``, built once per class
        and set of functions (a JSON schema from each signature costs a few
        milliseconds a turn). A tool method still runs on the assistant of
        the turn that called it; a different set of functions (settings,
        ``tools``, another class registered under the name) builds anew."""
        functions = self.tool_functions()
        key = (type(self), *(_tool_key(self, func) for func in functions))
        try:
            tools = _built_tools.get(key)
        except TypeError:  # a callable that cannot be a key: build it each time
            return [as_function_tool(func) for func in functions]
        if tools is None:
            tools = [_build_tool(self, func) for func in functions]
            if len(_built_tools) >= MAX_BUILT_TOOL_SETS:
                _built_tools.clear()
            _built_tools[key] = tools
        return list(tools)

    def action_handlers(self) -> dict[str, tuple[Callable[..., Any], bool]]:
        handlers = {}
        for name, member in inspect.getmembers(type(self)):
            marker = getattr(member, "_chatkit_action", None)
            if marker is not None:
                action_type, sync = marker
                handlers[action_type] = (getattr(self, name), sync)
        return handlers


#: Tool sets built by ``Assistant.get_tools``, by class and functions; a
#: bound keeps settings changed again and again (tests) from piling them up.
_built_tools: dict[tuple[Any, ...], list[FunctionTool]] = {}
MAX_BUILT_TOOL_SETS = 256


def _tool_key(assistant: Assistant, func: Callable[..., Any]) -> Any:
    """What identifies a tool function across instances of one class: a
    method of ``assistant`` by its function, anything else by itself."""
    if inspect.ismethod(func) and func.__self__ is assistant:
        return ("method", func.__func__)
    return func


def _build_tool(assistant: Assistant, func: Callable[..., Any]) -> FunctionTool:
    if not (inspect.ismethod(func) and func.__self__ is assistant):
        return as_function_tool(func)
    function, cls = func.__func__, type(assistant)

    def bind(ctx: ToolContext) -> Callable[..., Any]:
        # The turn's own instance, as before the tools were cached; the one
        # they were built with only outside a turn's run (a test, a shell).
        turn_assistant = ctx.assistant
        owner = turn_assistant if type(turn_assistant) is cls else assistant
        return function.__get__(owner, cls)

    return as_function_tool(func, bind=bind)


class DefaultAssistant(Assistant):
    """The assistant that answers unless a turn picks another: configured by
    settings alone (CHATKIT_SYSTEM_PROMPT, CHATKIT_MODEL, CHATKIT_TOOLS)."""

    name = "assistant"
    label = "Assistant"

    def tool_functions(self) -> list[Callable[..., Any]]:
        configured = [import_string(path) for path in chatkit_settings.TOOLS]
        return super().tool_functions() + configured
