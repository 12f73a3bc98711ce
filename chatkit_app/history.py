"""
The conversation history sent to the model.

The last ``CHATKIT_HISTORY_ITEMS`` items of the thread, loaded with one
query, converted by the SDK's ``ThreadItemConverter`` with the changes both
wire formats need:

- assistant messages become plain-text assistant messages. The SDK's default
  sends ``output_text`` parts, which the Chat Completions path of the Agents
  SDK rejects (``UserError: Unknown content``) from the second turn on;
- hidden context with structured content is sent as JSON instead of failing;
- attachments are described by name and type until uploads land;
- tags (@-mentions) are sent as their text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from agents import TResponseInputItem
from chatkit.agents import ThreadItemConverter
from chatkit.types import (
    AssistantMessageItem,
    Attachment,
    HiddenContextItem,
    ThreadItem,
    UserMessageTagContent,
)
from openai.types.responses import ResponseInputTextParam
from openai.types.responses.response_input_item_param import Message

from . import selectors
from .conf import chatkit_settings
from .context import RequestContext
from .serialization import item_from_message


class HistoryConverter(ThreadItemConverter):
    async def assistant_message_to_input(
        self, item: AssistantMessageItem
    ) -> TResponseInputItem | list[TResponseInputItem] | None:
        text = "".join(part.text for part in item.content)
        if not text:
            return None
        return {"type": "message", "role": "assistant", "content": text}

    async def hidden_context_to_input(
        self, item: HiddenContextItem
    ) -> TResponseInputItem | list[TResponseInputItem] | None:
        content = item.content if isinstance(item.content, str) else json.dumps(item.content)
        return Message(
            type="message",
            role="user",
            content=[
                ResponseInputTextParam(
                    type="input_text",
                    text="Hidden context for the agent (not shown to the user):\n"
                    f"<HiddenContext>\n{content}\n</HiddenContext>",
                )
            ],
        )

    async def attachment_to_message_content(self, attachment: Attachment) -> ResponseInputTextParam:
        return ResponseInputTextParam(
            type="input_text",
            text=f"[The user attached a file: {attachment.name} ({attachment.mime_type})]",
        )

    async def tag_to_message_content(self, tag: UserMessageTagContent) -> ResponseInputTextParam:
        return ResponseInputTextParam(
            type="input_text", text=f"@{tag.text}: {json.dumps(tag.data)}"
        )


def recent_items(context: RequestContext, thread_id: str) -> list[ThreadItem]:
    """The last HISTORY_ITEMS items of the thread, oldest first (one query; sync)."""
    rows = selectors.message_recent(
        owner=context.user, conversation_id=thread_id, limit=chatkit_settings.HISTORY_ITEMS
    )
    return [item_from_message(row) for row in rows]


async def to_model_input(
    items: Sequence[ThreadItem], converter: ThreadItemConverter | None = None
) -> list[TResponseInputItem]:
    return await (converter or HistoryConverter()).to_agent_input(list(items))
