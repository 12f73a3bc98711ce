"""
Turns a tool can end: the run context of an assistant's model run, and the
Agents SDK ``tool_use_behavior`` that stops the run once a tool has ended
the turn.

Two tools end a turn: one that asks the user questions
(``ToolContext.ask``) and one that runs a tool in the user's page
(``ToolContext.call_client_tool``). In both cases the model must not go on
guessing: the run stops after that tool, the stream ends, and the next turn
starts when the answer arrives (``threads.add_structured_input`` or
``threads.add_client_tool_output``, which the SDK answers by calling the
responder again with the answered item in the history).

Imported by the responder only: it brings the Agents SDK, which takes
seconds to import.
"""

from __future__ import annotations

from typing import Any

from agents import FunctionToolResult, RunContextWrapper, ToolsToFinalOutputResult
from chatkit.agents import AgentContext


class AssistantRunContext(AgentContext):
    """ChatKit's agent context, plus the assistant answering the turn (its
    tool methods run on it) and whether a tool has ended the turn."""

    assistant: Any = None
    turn_ended: bool = False


def stop_when_turn_ended(
    wrapper: RunContextWrapper[Any], results: list[FunctionToolResult]
) -> ToolsToFinalOutputResult:
    """Stop the run after the tools that asked for it; otherwise let the
    model read the tools' output and go on, as usual."""
    context = wrapper.context
    ended = bool(getattr(context, "turn_ended", False)) or (
        getattr(context, "client_tool_call", None) is not None
    )
    # The final output of a stopped run is not shown: the turn's last item
    # is the question or the client tool call.
    return ToolsToFinalOutputResult(is_final_output=ended, final_output="" if ended else None)
