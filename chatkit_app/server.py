"""
``ChatSiteServer``: the SDK's ``ChatKitServer`` wired to the Django store.

The SDK implements the protocol; this class adds what the SDK leaves to the
integrator: refusing new content on locked or closed threads (the SDK does
not enforce thread status), marking interrupted replies, and choosing the
responder.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Any

from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult
from chatkit.store import AttachmentStore, NotFoundError, Store
from chatkit.types import (
    Action,
    AssistantMessageItem,
    AudioInput,
    ChatKitReq,
    FeedbackKind,
    SyncCustomActionResponse,
    ThreadItem,
    ThreadMetadata,
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsCustomActionReq,
    ThreadsRetryAfterItemReq,
    ThreadsSyncCustomActionReq,
    ThreadStreamEvent,
    TranscriptionResult,
    UserMessageItem,
    WidgetItem,
)
from django.core.exceptions import ObjectDoesNotExist
from pydantic import TypeAdapter

from . import live_events, services
from .agent_responder import agent_respond
from .assistants import registered as registered_assistants
from .attachments import DjangoAttachmentStore, check_message_attachments
from .context import RequestContext
from .db import db_call
from .dev_responder import dev_respond
from .providers import allowed_model, current_provider
from .request_errors import ChatKitRequestError, ThreadNotActive
from .store import DjangoStore
from .transcription import transcribe
from .widget_actions import resolve as resolve_action
from .widget_actions import run_sync_action, stream_action

REQUEST_ADAPTER: TypeAdapter[ChatKitReq] = TypeAdapter(ChatKitReq)

# Requests that add content to an existing thread; refused unless it is active.
WRITES_TO_THREAD = (
    ThreadsAddUserMessageReq,
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
    ThreadsRetryAfterItemReq,
    ThreadsCustomActionReq,
    ThreadsSyncCustomActionReq,
)


class ChatSiteServer(ChatKitServer[RequestContext]):
    def __init__(
        self,
        store: Store[RequestContext] | None = None,
        attachment_store: AttachmentStore[RequestContext] | None = None,
    ):
        super().__init__(store or DjangoStore(), attachment_store or DjangoAttachmentStore())

    async def process(
        self, request: str | bytes | bytearray, context: RequestContext
    ) -> StreamingResult | NonStreamingResult:
        """Check thread ownership and status before anything streams (so
        errors get a proper HTTP status), then hand over to the SDK."""
        parsed = REQUEST_ADAPTER.validate_json(request)
        if isinstance(parsed, ThreadsCreateReq | ThreadsAddUserMessageReq):
            # Refuse a model outside the allowed list, and attachments that are
            # not the caller's uploaded files, before anything is stored.
            options = parsed.params.input.inference_options
            allowed_model(options.model)
            if options.tool_choice and options.tool_choice.id not in registered_assistants():
                raise ChatKitRequestError(
                    f"There is no assistant {options.tool_choice.id!r}.", code="unknown_assistant"
                )
            await check_message_attachments(context, parsed.params.input.attachments)
        if isinstance(parsed, WRITES_TO_THREAD):
            # Raises NotFoundError for a missing thread or someone else's.
            thread = await self.store.load_thread(parsed.params.thread_id, context)
            if thread.status.type != "active":
                raise ThreadNotActive(thread)
        if isinstance(parsed, ThreadsCustomActionReq | ThreadsSyncCustomActionReq):
            # Unknown action types and bad payloads are the client's mistake: 400.
            resolve_action(parsed.params.action)
        return await super().process(request, context)

    async def add_feedback(
        self,
        thread_id: str,
        item_ids: list[str],
        feedback: FeedbackKind,
        context: RequestContext,
    ) -> None:
        await _record_feedback(context, thread_id, item_ids, feedback)

    async def transcribe(
        self, audio_input: AudioInput, context: RequestContext
    ) -> TranscriptionResult:
        return await transcribe(audio_input, context)

    def action(
        self,
        thread: ThreadMetadata,
        action: Action[str, Any],
        sender: WidgetItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        # live_events.relay: staff watching the thread see the reply as it
        # is written (items are only saved, and published, when done).
        return live_events.relay(thread.id, stream_action(thread, action, sender, context))

    async def sync_action(
        self,
        thread: ThreadMetadata,
        action: Action[str, Any],
        sender: WidgetItem | None,
        context: RequestContext,
    ) -> SyncCustomActionResponse:
        return await run_sync_action(self.store, thread, action, sender, context)

    def respond(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        if current_provider().offline:
            return live_events.relay(
                thread.id, dev_respond(self.store, thread, input_user_message, context)
            )
        return live_events.relay(
            thread.id, agent_respond(self.store, thread, input_user_message, context)
        )

    async def handle_stream_cancelled(
        self, thread: ThreadMetadata, pending_items: list[ThreadItem], context: RequestContext
    ) -> None:
        """Keep the partial reply, flagged as interrupted, then let the SDK
        add its hidden "the user cancelled" note."""
        partial = [
            item
            for item in pending_items
            if isinstance(item, AssistantMessageItem)
            and any(part.text.strip() for part in item.content)
        ]
        await _save_interrupted(context, thread.id, partial)
        others = [item for item in pending_items if item not in partial]
        await super().handle_stream_cancelled(thread, others, context)


@db_call
def _record_feedback(
    context: RequestContext, thread_id: str, item_ids: list[str], kind: FeedbackKind
) -> None:
    try:
        services.feedback_record(
            owner=context.user, conversation_id=thread_id, item_ids=item_ids, kind=kind
        )
    except ObjectDoesNotExist:
        raise NotFoundError(f"Thread {thread_id} or one of its items not found") from None


@db_call
def _save_interrupted(context: RequestContext, thread_id: str, items: list[ThreadItem]) -> None:
    for item in items:
        services.message_upsert(
            owner=context.user, conversation_id=thread_id, item=item, interrupted=True
        )


@lru_cache(maxsize=1)
def get_server() -> ChatSiteServer:
    """The process-wide server; it holds no per-request state."""
    return ChatSiteServer()
