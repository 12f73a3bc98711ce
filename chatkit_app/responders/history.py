"""
The conversation history sent to the model.

The last ``CHATKIT_HISTORY_ITEMS`` items of the thread, loaded with one
query, converted by the SDK's ``ThreadItemConverter`` with the changes both
wire formats need:

- assistant messages become plain-text assistant messages. The SDK's default
  sends ``output_text`` parts, which the Chat Completions path of the Agents
  SDK rejects (``UserError: Unknown content``) from the second turn on;
- hidden context with structured content is sent as JSON instead of failing;
- attachments are sent as what the model can use: images as image inputs,
  text files as their text, other files described by name and type;
- tags (@-mentions) are sent as their text.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

from agents import TResponseInputItem
from chatkit.agents import ThreadItemConverter
from chatkit.types import (
    AssistantMessageItem,
    Attachment,
    HiddenContextItem,
    ThreadItem,
    UserMessageItem,
    UserMessageTagContent,
)
from openai.types.responses import (
    ResponseInputContentParam,
    ResponseInputImageParam,
    ResponseInputTextParam,
)
from openai.types.responses.response_input_item_param import Message

from .. import selectors
from ..attachments.uploads import TEXT_TYPES
from ..conf import chatkit_settings
from ..context import RequestContext
from ..models import Attachment as AttachmentRow
from ..serialization import item_from_json

# Images larger than this are sent to the model as their preview.
MAX_IMAGE_BYTES = 4 * 1024 * 1024


class HistoryConverter(ThreadItemConverter):
    def __init__(self, attachments: dict[str, ResponseInputContentParam] | None = None):
        # Model input for each attachment of the history, read beforehand
        # (see ``attachment_inputs``): the converter itself does no I/O.
        self.attachments = attachments or {}

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

    async def attachment_to_message_content(
        self, attachment: Attachment
    ) -> ResponseInputContentParam:
        known = self.attachments.get(attachment.id)
        if known is not None:
            return known
        return ResponseInputTextParam(
            type="input_text",
            text=f"[The user attached a file that is no longer available: {attachment.name}]",
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
    return [item_from_json(row) for row in rows]


def attachment_rows(context: RequestContext, items: Sequence[ThreadItem]) -> list[AttachmentRow]:
    """The uploaded files the history's user messages carry (one query; sync)."""
    ids = [a.id for item in items if isinstance(item, UserMessageItem) for a in item.attachments]
    if not ids:
        return []
    return list(
        AttachmentRow.objects.filter(owner=context.user, pk__in=ids, uploaded_at__isnull=False)
    )


def attachment_inputs(rows: Sequence[AttachmentRow]) -> dict[str, ResponseInputContentParam]:
    """What the model gets for each file (reads storage; run off the event loop)."""
    inputs: dict[str, ResponseInputContentParam] = {}
    for row in rows:
        inputs[row.pk] = attachment_input(row)
    return inputs


def attachment_input(row: AttachmentRow) -> ResponseInputContentParam:
    if row.mime_type.startswith("image/"):
        # The original when it is of a sensible size, else the preview.
        source = row.file if row.size <= MAX_IMAGE_BYTES or not row.preview else row.preview
        mime = row.mime_type if source is row.file else "image/webp"
        with source.open("rb") as handle:
            encoded = base64.b64encode(handle.read()).decode()
        return ResponseInputImageParam(
            type="input_image", detail="auto", image_url=f"data:{mime};base64,{encoded}"
        )
    if row.mime_type in TEXT_TYPES or row.mime_type.startswith("text/"):
        limit = chatkit_settings.ATTACHMENT_TEXT_CHARS
        with row.file.open("rb") as handle:
            text = handle.read(limit * 4).decode("utf-8", errors="replace")[:limit]
        return ResponseInputTextParam(
            type="input_text",
            text=f"The user attached the file {row.name} ({row.mime_type}):\n"
            f"<file>\n{text}\n</file>",
        )
    return ResponseInputTextParam(
        type="input_text",
        text=f"[The user attached a file: {row.name} ({row.mime_type}, {row.size} bytes); "
        "its content is not available to you.]",
    )


async def to_model_input(
    items: Sequence[ThreadItem], converter: ThreadItemConverter | None = None
) -> list[TResponseInputItem]:
    return await (converter or HistoryConverter()).to_agent_input(list(items))
