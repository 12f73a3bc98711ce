"""
Conversations for the staff-tool tests: one with everything (every item
type, feedback, usage, attachment rows and a stored file) built through the
services the store uses, and bulk ones for scale tests.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chatkit.types import ThreadMetadata
from django.core.files.base import ContentFile
from django.utils import timezone

from chatkit_app import services
from chatkit_app.models import Attachment, Conversation, Message, ModelUsage

from .thread_items import every_thread_item


def full_conversation(owner, thread_id: str = "thr_full", title: str = "Groceries and weather"):
    """A conversation holding one of every SDK item type, feedback, usage
    and both attachments the user message refers to (one with a file)."""
    thread = ThreadMetadata(
        id=thread_id, title=title, created_at=datetime(2026, 11, 20, 8, 0), metadata={"k": [1]}
    )
    conversation = services.conversation_save(owner=owner, thread=thread)
    items = every_thread_item(thread_id, prefix=thread_id.removeprefix("thr_"))
    for item in items:
        services.message_upsert(owner=owner, conversation_id=thread_id, item=item)
    by_type = {item.type: item for item in items}
    Message.objects.filter(pk=by_type["assistant_message"].id).update(interrupted=True)
    services.feedback_record(
        owner=owner,
        conversation_id=thread_id,
        item_ids=[by_type["assistant_message"].id],
        kind="positive",
    )
    ModelUsage.objects.create(
        conversation=conversation,
        user=owner,
        message_id=by_type["assistant_message"].id,
        provider="openai",
        model="gpt-4.1-mini",
        input_tokens=120,
        output_tokens=45,
        latency_ms=900,
    )
    file_attachment = Attachment(
        id="atc_f",
        owner=owner,
        conversation=conversation,
        name="notes.txt",
        mime_type="text/plain",
        size=11,
        data={"id": "atc_f", "type": "file", "name": "notes.txt", "mime_type": "text/plain"},
        uploaded_at=timezone.now(),
    )
    file_attachment.file.save("notes.txt", ContentFile(b"hello notes"), save=False)
    file_attachment.save()
    Attachment.objects.create(
        id="atc_i",
        owner=owner,
        conversation=conversation,
        kind="image",
        name="cat.png",
        mime_type="image/png",
        preview_url="https://example.org/p/cat.png",
        data={"id": "atc_i", "type": "image", "name": "cat.png", "mime_type": "image/png"},
    )
    conversation.refresh_from_db()
    return conversation


def bulk_conversations(
    owner, *, conversations: int, items_each: int, prefix: str = "bulk", text: str = "hello"
) -> list[str]:
    """Many conversations with many plain assistant items, inserted in bulk."""
    now = timezone.now()
    ids = [f"thr_{prefix}{n:05}" for n in range(conversations)]
    Conversation.objects.bulk_create(
        [
            Conversation(
                id=thread_id,
                owner=owner,
                title=f"{prefix} conversation {n}",
                item_sequence=items_each,
                created_at=now - timedelta(minutes=n),
                updated_at=now - timedelta(minutes=n),
            )
            for n, thread_id in enumerate(ids)
        ],
        batch_size=1000,
    )
    Message.objects.bulk_create(
        [
            Message(
                id=f"msg_{thread_id}_{seq}",
                conversation_id=thread_id,
                sequence=seq,
                type="assistant_message",
                role="assistant",
                text=f"{text} {seq}",
                # As the store writes it: the column mirrors the item's own.
                created_at=now,
                data={
                    "id": f"msg_{thread_id}_{seq}",
                    "thread_id": thread_id,
                    "type": "assistant_message",
                    "created_at": now.isoformat(),
                    "content": [
                        {"type": "output_text", "text": f"{text} {seq}", "annotations": []}
                    ],
                },
            )
            for thread_id in ids
            for seq in range(1, items_each + 1)
        ],
        batch_size=2000,
    )
    return ids


def items_conversation(
    pk: str, owner, created_at: datetime, items: int, *, spacing: timedelta = timedelta(0)
) -> Conversation:
    """A conversation of ``items`` messages, user and assistant in turn,
    written in bulk (no services, no signals); the n-th is created
    ``n * spacing`` after ``created_at``."""
    row = Conversation.objects.create(id=pk, owner=owner, created_at=created_at)
    Message.objects.bulk_create(
        Message(
            id=f"{pk}_{n}",
            conversation=row,
            sequence=n,
            type="assistant_message" if n % 2 == 0 else "user_message",
            role="assistant" if n % 2 == 0 else "user",
            data={},
            created_at=created_at + n * spacing,
        )
        for n in range(1, items + 1)
    )
    return row
