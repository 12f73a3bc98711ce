"""
The responder the ChatKit server is given (``ChatkitAppConfig.build_server``):
a real model through the Agents SDK (``agent``), or the offline development
responder (``dev``) while no provider is configured. The provider is read
on every turn, so a settings change (in tests, say) takes effect at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from chatkit.store import Store
from chatkit.types import ThreadMetadata, ThreadStreamEvent, UserMessageInput, UserMessageItem

from ..context import RequestContext
from .agent import agent_respond
from .dev import dev_respond
from .providers import allowed_model, current_provider


def respond(
    store: Store,
    thread: ThreadMetadata,
    input_user_message: UserMessageItem | None,
    context: RequestContext,
) -> AsyncIterator[ThreadStreamEvent]:
    if current_provider().offline:
        return dev_respond(store, thread, input_user_message, context)
    return agent_respond(store, thread, input_user_message, context)


async def check_model(input: UserMessageInput, context: RequestContext) -> None:
    """Refuse a model outside CHATKIT_MODELS (400 ``model_not_allowed``):
    one of the server's input checks."""
    allowed_model(input.inference_options.model)
