"""
Tools: what a tool sees (``ToolContext``), the ``@tool`` marker, and plain
functions turned into tools the Agents SDK can call.

Tools are plain methods (or functions) with typed arguments: the Agents SDK
builds their JSON schema from the signature and docstring. The first
argument is a ``ToolContext`` carrying the signed-in user, so a tool can
only reach that user's data.

Two things a tool can do end the turn (see ``turns.py``): asking the user
questions (``ToolContext.ask``, with ``choice_question`` and
``text_question``) and running a tool in the user's page
(``ToolContext.call_client_tool``).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, get_type_hints

from chatkit.types import (
    ClientEffectEvent,
    ProgressUpdateEvent,
    StructuredInput,
    StructuredInputFreeform,
    StructuredInputItem,
    StructuredInputMultipleChoice,
    StructuredInputMultipleChoiceOption,
    ThreadItemDoneEvent,
    ThreadMetadata,
)

from ..context import RequestContext

if TYPE_CHECKING:
    # The Agents SDK takes seconds to import: only the server needs it, not
    # every manage.py command (this module is imported at start-up).
    from agents import FunctionTool, RunContextWrapper
    from chatkit.agents import AgentContext
    from chatkit.icons import IconName
    from chatkit.widgets import WidgetRoot

logger = logging.getLogger(__name__)


class ToolContext:
    """What a tool sees: the user, the thread, and ways to show progress and
    widgets while it runs, to ask the user, and to run a tool in their page."""

    def __init__(self, agent_context: AgentContext[RequestContext], tool_name: str = ""):
        self.agent_context = agent_context
        #: The name the model called this tool by.
        self.tool_name = tool_name

    @property
    def request(self) -> RequestContext:
        return self.agent_context.request_context

    @property
    def user(self) -> Any:
        return self.request.user

    @property
    def thread(self) -> ThreadMetadata:
        return self.agent_context.thread

    @property
    def assistant(self) -> Any:
        """The assistant answering this turn (None outside a turn's run)."""
        return getattr(self.agent_context, "assistant", None)

    async def progress(self, text: str, icon: IconName | None = None) -> None:
        """Show what the tool is doing, until the answer arrives."""
        await self.agent_context.stream(ProgressUpdateEvent(text=text, icon=icon))

    async def show_widget(self, widget: WidgetRoot, copy_text: str | None = None) -> None:
        """Add a widget to the thread (it is stored like any other item)."""
        await self.agent_context.stream_widget(widget, copy_text)

    async def effect(self, name: str, data: dict[str, Any] | None = None) -> None:
        """Ask the page to do something (e.g. refresh a list next to the chat)."""
        await self.agent_context.stream(ClientEffectEvent(name=name, data=data or {}))

    async def ask(self, *questions: StructuredInput) -> StructuredInputItem:
        """Ask the user ``questions`` and end the turn.

        The chat shows them as a form (choices, several choices, free text)
        the user answers or skips; the answers (or the skip) reach the model
        as the next turn, which starts as soon as they are sent. Build the
        questions with ``choice_question`` and ``text_question``. Returns the
        stored item (status ``pending``)."""
        if not questions:
            raise ValueError("ask() needs at least one question.")
        ids = [question.id for question in questions]
        if len(set(ids)) != len(ids):
            raise ValueError(f"Question ids must be unique, got {ids}.")
        item = StructuredInputItem(
            id=self.agent_context.generate_id("message"),
            thread_id=self.thread.id,
            created_at=datetime.now(),
            inputs=list(questions),
        )
        await self.agent_context.stream(ThreadItemDoneEvent(item=item))
        self.end_turn()
        return item

    def call_client_tool(self, arguments: dict[str, Any] | None = None) -> None:
        """Run this tool in the user's page, and end the turn.

        The page's handler for a client tool of this tool's name gets
        ``{name, params: arguments}`` (the official component's
        ``onClientTool``; the built-in client's ``chatkit.client_tool``
        event) and its result becomes this tool's output when the model
        answers, in the next turn. What this tool returns is not used."""
        from chatkit.agents import ClientToolCall

        if not self.tool_name:
            raise RuntimeError("call_client_tool() works inside a tool the model called.")
        self.agent_context.client_tool_call = ClientToolCall(
            name=self.tool_name, arguments=arguments or {}
        )

    def end_turn(self) -> None:
        """Stop the model after this tool: it says nothing more until the
        user's next message, answer or client tool output."""
        self.agent_context.turn_ended = True  # type: ignore[attr-defined]


def tool(func: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a method of an Assistant as a tool the model may call."""
    func._chatkit_tool = True  # type: ignore[attr-defined]
    return func


def as_function_tool(
    func: Callable[..., Any],
    *,
    bind: Callable[[ToolContext], Callable[..., Any]] | None = None,
) -> FunctionTool:
    """An Agents SDK tool from a function whose first argument is a ToolContext.

    The SDK reads the schema from the signature; it only recognises its own
    context type, so the tool it sees takes the SDK's RunContextWrapper and
    the rest of ``func``'s arguments, with their annotations resolved in
    ``func``'s own module. ``bind``, when given, picks what each call runs
    from its ToolContext (an assistant's method, on the assistant of the
    turn: see ``Assistant.get_tools``); the schema is still ``func``'s."""
    from agents import RunContextWrapper, function_tool

    signature = inspect.signature(func)
    params = list(signature.parameters.values())
    if not params:
        raise TypeError(f"Tool {func.__qualname__} must take a ToolContext as first argument.")
    # Keyword-only, so the SDK passes every argument by name to ``invoke``.
    rest = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params[1:]]
    hints = get_type_hints(func)

    async def invoke(wrapper: RunContextWrapper[AgentContext], **kwargs: Any) -> Any:
        ctx = ToolContext(wrapper.context, tool_name=func.__name__)
        result = (bind(ctx) if bind is not None else func)(ctx, **kwargs)
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


def choice_question(
    id: str, question: str, options: Sequence[str], *, multiple: bool = False
) -> StructuredInputMultipleChoice:
    """A question answered by picking one of ``options`` (several with
    ``multiple``), or by typing an answer of one's own."""
    if not options:
        raise ValueError("A choice question needs options.")
    return StructuredInputMultipleChoice(
        id=id,
        question=question,
        options=[StructuredInputMultipleChoiceOption(value=str(value)) for value in options],
        multiple=multiple,
    )


def text_question(
    id: str, question: str, description: str | None = None
) -> StructuredInputFreeform:
    """A question answered in the user's own words."""
    return StructuredInputFreeform(id=id, question=question, description=description)
