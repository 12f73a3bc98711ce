"""
Conversions between ChatKit's pydantic models and database rows.

The complete item is stored as JSON (``model_dump(mode="json")``) and read
back with the SDK's own ``ThreadItem`` type adapter (from the JSON text
itself where the store reads pages of items: ``item_from_json``), so every
item type the SDK defines round-trips unchanged. The denormalised columns (type, role,
text, created_at) are derived here, in one place.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from chatkit.types import (
    ActiveStatus,
    ClosedStatus,
    LockedStatus,
    ThreadItem,
    ThreadMetadata,
    ThreadStatus,
)
from chatkit.types import (
    Attachment as AttachmentModel,
)
from django.utils import timezone
from pydantic import TypeAdapter

from .models import Conversation, Message
from .transcript import person_author

THREAD_ITEM_ADAPTER: TypeAdapter[ThreadItem] = TypeAdapter(ThreadItem)
ATTACHMENT_ADAPTER: TypeAdapter[AttachmentModel] = TypeAdapter(AttachmentModel)

_ROLES = {
    "user_message": "user",
    "assistant_message": "assistant",
    "widget": "assistant",
    "generated_image": "assistant",
    "workflow": "assistant",
    "task": "assistant",
    "structured_input": "assistant",
    "client_tool_call": "tool",
    "hidden_context_item": "system",
    "sdk_hidden_context": "system",
}


def aware(value: datetime) -> datetime:
    """The SDK creates naive ``datetime.now()`` values (local time, which
    Django pins to TIME_ZONE); the database wants aware ones."""
    if timezone.is_naive(value):
        return timezone.make_aware(value, timezone.get_default_timezone())
    return value


# --- threads ----------------------------------------------------------------


def status_to_columns(status: ThreadStatus) -> tuple[str, str]:
    return status.type, getattr(status, "reason", None) or ""


def status_from_columns(status: str, reason: str) -> ThreadStatus:
    if status == Conversation.Status.LOCKED:
        return LockedStatus(reason=reason or None)
    if status == Conversation.Status.CLOSED:
        return ClosedStatus(reason=reason or None)
    return ActiveStatus()


def thread_from_conversation(conversation: Conversation) -> ThreadMetadata:
    return ThreadMetadata(
        id=conversation.id,
        title=conversation.title or None,
        created_at=conversation.created_at,
        status=status_from_columns(conversation.status, conversation.status_reason),
        allowed_image_domains=conversation.allowed_image_domains,
        metadata=conversation.metadata or {},
    )


def thread_to_fields(thread: ThreadMetadata) -> dict[str, Any]:
    status, reason = status_to_columns(thread.status)
    return {
        "title": (thread.title or "")[:255],
        "status": status,
        "status_reason": reason[:255],
        "allowed_image_domains": thread.allowed_image_domains,
        "metadata": thread.metadata or {},
    }


# --- items ------------------------------------------------------------------


def item_text(item: ThreadItem) -> str:
    """Plain text of an item, for search, admin and titles."""
    match item.type:
        case "user_message":
            text = "\n".join(part.text for part in item.content)
            if item.quoted_text:
                text = f"> {item.quoted_text}\n{text}"
            return text
        case "assistant_message":
            return "\n".join(part.text for part in item.content)
        case "widget":
            return item.copy_text or ""
        case "client_tool_call":
            return f"{item.name}({json.dumps(item.arguments, sort_keys=True)})"
        case "hidden_context_item":
            return (
                item.content
                if isinstance(item.content, str)
                else json.dumps(item.content, default=str)
            )
        case "sdk_hidden_context":
            return item.content
        case "task":
            return " ".join(
                filter(
                    None, [getattr(item.task, "title", None), getattr(item.task, "content", None)]
                )
            )
        case "workflow":
            return "\n".join(
                " ".join(filter(None, [getattr(t, "title", None), getattr(t, "content", None)]))
                for t in item.workflow.tasks
            )
        case "structured_input":
            return "\n".join(i.question for i in item.inputs)
    return ""


#: The role of an assistant message a person wrote (``transcript.person_author``).
PERSON_ROLE = "person"


def item_to_fields(item: ThreadItem) -> dict[str, Any]:
    data = item.model_dump(mode="json")
    return {
        "type": item.type,
        "role": PERSON_ROLE if person_author(data) else _ROLES.get(item.type, ""),
        "text": item_text(item),
        "data": data,
        "created_at": aware(item.created_at),
    }


def item_from_message(message: Message) -> ThreadItem:
    return THREAD_ITEM_ADAPTER.validate_python(message.data)


def item_from_json(data: str | bytes) -> ThreadItem:
    """An item from its stored JSON text (``selectors.MESSAGE_JSON``), in
    one pass of pydantic's parser: no Python dicts in between."""
    return THREAD_ITEM_ADAPTER.validate_json(data)


def item_from_data(data: dict[str, Any]) -> ThreadItem:
    return THREAD_ITEM_ADAPTER.validate_python(data)


# --- attachments ------------------------------------------------------------


def attachment_to_data(attachment: AttachmentModel) -> dict[str, Any]:
    return attachment.model_dump(mode="json")


def attachment_from_data(data: dict[str, Any]) -> AttachmentModel:
    return ATTACHMENT_ADAPTER.validate_python(data)
