"""
``ChatSiteServer``: the SDK's ``ChatKitServer`` wired to the Django store.

The SDK implements the protocol; this class adds what the SDK leaves to the
integrator: refusing new content on locked or closed threads (the SDK does
not enforce thread status), checking a new message's input before anything
is stored, marking interrupted replies, and recording feedback.

Everything else is handed in, the way the SDK itself takes its store and
attachment store: the responder that answers, the checks of a message's
input, widget actions, transcription, the relay that lets staff watch a
reply as it is written, and the limiter that keeps users within their
usage limits. ``ChatkitAppConfig.build_server`` (apps.py) builds
the server from chatkit_app's subpackages; this module imports none of
them. Whatever is left out is answered as the SDK answers a server without
it (``501 not_supported``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from functools import lru_cache, partial
from typing import Any

from chatkit.errors import ErrorCode
from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult
from chatkit.store import AttachmentStore, NotFoundError, Store
from chatkit.types import (
    Action,
    AssistantMessageItem,
    AudioInput,
    ChatKitReq,
    ClientToolCallItem,
    ErrorEvent,
    FeedbackKind,
    SDKHiddenContextItem,
    StructuredInputItem,
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
    UserMessageInput,
    UserMessageItem,
    WidgetItem,
    is_streaming_req,
)
from django.apps import apps
from django.core.exceptions import ObjectDoesNotExist
from pydantic import TypeAdapter

from . import services
from .context import RequestContext
from .db import db_call
from .request_errors import ChatKitRequestError, ThreadNotActive
from .store import hand_on_thread

logger = logging.getLogger(__name__)

REQUEST_ADAPTER: TypeAdapter[ChatKitReq] = TypeAdapter(ChatKitReq)

#: What the SDK's own ``handle_stream_cancelled`` notes in the thread when a
#: stream is stopped (openai-chatkit 1.6.5), so the next reply does not carry
#: on with the stopped one. ``test_stream_cancel`` checks it is still the same.
CANCELLED_NOTE = "The user cancelled the stream. Stop responding to the prior request."
#: How long a stopped stream waits for its reply to be saved before the
#: request may end; the save itself goes on.
STOPPED_REPLY_WAIT_SECONDS = 10.0
#: ``RequestContext.extra`` key set once the SDK has handed a stopped reply
#: to ``handle_stream_cancelled``: a run that stopped without it keeps what
#: it wrote itself (``runs/run.py``).
STOPPED_REPLY_KEPT = "chatkit_app.stopped_reply_kept"
# Saves of stopped replies still running: asyncio keeps only weak references.
_saves_in_flight: set[asyncio.Task[None]] = set()

# Requests that add content to an existing thread; refused unless it is active.
WRITES_TO_THREAD = (
    ThreadsAddUserMessageReq,
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
    ThreadsRetryAfterItemReq,
    ThreadsCustomActionReq,
    ThreadsSyncCustomActionReq,
)


# What the server is handed (see the module docstring).

#: Streams the answer to a turn: ``(store, thread, input_user_message, context)``.
Responder = Callable[
    [Store[RequestContext], ThreadMetadata, UserMessageItem | None, RequestContext],
    AsyncIterator[ThreadStreamEvent],
]
#: Refuses a new message's input (``ChatKitRequestError``, ``NotFoundError``)
#: before anything of it is stored.
InputCheck = Callable[[UserMessageInput, RequestContext], Awaitable[None]]
#: Refuses a widget action nobody handles, or its bad payload (400), before
#: anything streams.
ActionCheck = Callable[[Action[str, Any]], object]
#: Streams the events of a widget action: ``(thread, action, sender, context)``.
ActionStreamer = Callable[
    [ThreadMetadata, Action[str, Any], WidgetItem | None, RequestContext],
    AsyncIterator[ThreadStreamEvent],
]
#: Answers a sync widget action: ``(store, thread, action, sender, context)``.
SyncActionRunner = Callable[
    [Store[RequestContext], ThreadMetadata, Action[str, Any], WidgetItem | None, RequestContext],
    Awaitable[SyncCustomActionResponse],
]
Transcriber = Callable[[AudioInput, RequestContext], Awaitable[TranscriptionResult]]
#: Runs a request within the user's usage limits: ``(request, context,
#: proceed)`` refuses it or awaits ``proceed()`` (the SDK running it), and
#: may watch the stream that returns.
Limiter = Callable[
    [ChatKitReq, RequestContext, Callable[[], Awaitable[StreamingResult | NonStreamingResult]]],
    Awaitable[StreamingResult | NonStreamingResult],
]
#: Yields a thread's events unchanged while doing something with them:
#: ``(thread_id, events)``.
StreamRelay = Callable[[str, AsyncIterator[ThreadStreamEvent]], AsyncIterator[ThreadStreamEvent]]
#: Takes over each result before it goes to the view: ``(request, context,
#: result)`` may consume a stream in a task of its own (a reply that
#: outlives its request) and answer a reader of it instead.
RunOwner = Callable[
    [ChatKitReq, RequestContext, StreamingResult | NonStreamingResult],
    Awaitable[StreamingResult | NonStreamingResult],
]


class ChatSiteServer(ChatKitServer[RequestContext]):
    def __init__(
        self,
        store: Store[RequestContext],
        attachment_store: AttachmentStore[RequestContext] | None = None,
        *,
        responder: Responder,
        input_checks: Sequence[InputCheck] = (),
        action_check: ActionCheck | None = None,
        action_streamer: ActionStreamer | None = None,
        sync_action_runner: SyncActionRunner | None = None,
        transcriber: Transcriber | None = None,
        relay: StreamRelay | None = None,
        limiter: Limiter | None = None,
        runs: RunOwner | None = None,
    ):
        super().__init__(store, attachment_store)
        self.responder = responder
        # In order: the first that refuses decides the error the client gets.
        self.input_checks = tuple(input_checks)
        self.action_check = action_check
        self.action_streamer = action_streamer
        self.sync_action_runner = sync_action_runner
        self.transcriber = transcriber
        self.relay = relay
        self.limiter = limiter
        self.runs = runs

    def _relayed(
        self, thread: ThreadMetadata, events: AsyncIterator[ThreadStreamEvent]
    ) -> AsyncIterator[ThreadStreamEvent]:
        return self.relay(thread.id, events) if self.relay is not None else events

    async def process(
        self, request: str | bytes | bytearray | ChatKitReq, context: RequestContext
    ) -> StreamingResult | NonStreamingResult:
        """Check thread ownership and status before anything streams (so
        errors get a proper HTTP status), then hand over to the SDK.

        ``request`` is the parsed request (the view parses it once) or its
        JSON, parsed here with the module's adapter."""
        parsed = (
            REQUEST_ADAPTER.validate_json(request)
            if isinstance(request, str | bytes | bytearray)
            else request
        )
        if isinstance(parsed, ThreadsCreateReq | ThreadsAddUserMessageReq):
            # A model outside the allowed list, an unknown assistant, files
            # that are not the caller's uploads: refused before anything is stored.
            for check in self.input_checks:
                await check(parsed.params.input, context)
        if isinstance(parsed, WRITES_TO_THREAD):
            # Raises NotFoundError for a missing thread or someone else's.
            thread = await self.store.load_thread(parsed.params.thread_id, context)
            if thread.status.type != "active":
                raise ThreadNotActive(thread)
            # The SDK loads it again first thing: that load takes this one.
            hand_on_thread(context, thread)
        if (
            isinstance(parsed, ThreadsCustomActionReq | ThreadsSyncCustomActionReq)
            and self.action_check is not None
        ):
            # Unknown action types and bad payloads are the client's mistake: 400.
            self.action_check(parsed.params.action)
        await self._check_named_item(parsed, context)
        run = partial(self._run, parsed, context)
        # Last, so that a request refused for another reason uses no limit.
        result = await (self.limiter(parsed, context, run) if self.limiter else run())
        if isinstance(result, StreamingResult):
            result = StreamingResult(_always_ending(parsed, result.json_events, context))
        return await self.runs(parsed, context, result) if self.runs else result

    async def _run(
        self, parsed: ChatKitReq, context: RequestContext
    ) -> StreamingResult | NonStreamingResult:
        """What the SDK's ``process`` does once it has parsed the request
        (openai-chatkit 1.6.5): it parses with a ``TypeAdapter`` built anew
        on every call, so the parsed request goes to its handlers directly."""
        if is_streaming_req(parsed):
            return StreamingResult(self._process_streaming(parsed, context))
        return NonStreamingResult(await self._process_non_streaming(parsed, context))

    async def _check_named_item(self, parsed: ChatKitReq, context: RequestContext) -> None:
        """An item a request names must be an item of its thread: someone
        else's, or a missing one, is the usual 404 before anything streams;
        one of the wrong kind (an answered question, tool output with no
        pending call) is a 400. (Inside the stream the SDK would answer an
        empty 200 for a retry, or log the client's mistake as a crash.)"""
        if isinstance(parsed, ThreadsRetryAfterItemReq):
            item = await self.store.load_item(
                parsed.params.thread_id, parsed.params.item_id, context
            )
            if not isinstance(item, UserMessageItem):
                raise ChatKitRequestError("Only a user message can be retried.")
        elif isinstance(parsed, ThreadsAddStructuredInputReq):
            item = await self.store.load_item(
                parsed.params.thread_id, parsed.params.item_id, context
            )
            if not isinstance(item, StructuredInputItem) or item.status != "pending":
                raise ChatKitRequestError("That item is not a question waiting for an answer.")
        elif isinstance(parsed, ThreadsAddClientToolOutputReq):
            # The SDK completes the newest item, if it is a pending tool call.
            newest = await self.store.load_thread_items(
                parsed.params.thread_id, None, 1, "desc", context
            )
            if not any(
                isinstance(item, ClientToolCallItem) and item.status == "pending"
                for item in newest.data
            ):
                raise ChatKitRequestError("No client tool call is waiting for its output.")
        elif (
            isinstance(parsed, ThreadsCustomActionReq | ThreadsSyncCustomActionReq)
            and parsed.params.item_id
        ):
            await self.store.load_item(parsed.params.thread_id, parsed.params.item_id, context)

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
        if self.transcriber is None:
            return await super().transcribe(audio_input, context)
        return await self.transcriber(audio_input, context)

    def action(
        self,
        thread: ThreadMetadata,
        action: Action[str, Any],
        sender: WidgetItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        if self.action_streamer is None:
            return super().action(thread, action, sender, context)
        # Relayed: staff watching the thread see the reply as it is written
        # (items are only saved, and published, when done).
        return self._relayed(thread, self.action_streamer(thread, action, sender, context))

    async def sync_action(
        self,
        thread: ThreadMetadata,
        action: Action[str, Any],
        sender: WidgetItem | None,
        context: RequestContext,
    ) -> SyncCustomActionResponse:
        if self.sync_action_runner is None:
            return await super().sync_action(thread, action, sender, context)
        return await self.sync_action_runner(self.store, thread, action, sender, context)

    def respond(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        return self._relayed(
            thread, self.responder(self.store, thread, input_user_message, context)
        )

    async def handle_stream_cancelled(
        self, thread: ThreadMetadata, pending_items: list[ThreadItem], context: RequestContext
    ) -> None:
        """Keep the partial reply, flagged as interrupted, and the SDK's hidden
        "the user cancelled" note, in one transaction.

        Nothing a client can do from here on loses them. The save is a task of
        its own, shielded: a second cancellation (the ASGI server giving up on
        the closed connection, a shutdown) ends the waiting, not the save. It
        is one call on the request's worker thread, queued behind whatever the
        stream was writing when the client left, and that thread finishes its
        queue before the request's executor shuts down. Waiting is bounded, so
        a stalled database cannot hold the request open for good.
        """
        partial = [
            item
            for item in pending_items
            if isinstance(item, AssistantMessageItem)
            and any(part.text.strip() for part in item.content)
        ]
        note = SDKHiddenContextItem(
            id=self.store.generate_item_id("sdk_hidden_context", thread, context),
            thread_id=thread.id,
            created_at=datetime.now(),
            content=CANCELLED_NOTE,
        )
        context.extra[STOPPED_REPLY_KEPT] = True
        saving = asyncio.ensure_future(_save_stopped_reply(context, thread.id, partial, note))
        _saves_in_flight.add(saving)
        saving.add_done_callback(_saves_in_flight.discard)
        try:
            await asyncio.wait_for(asyncio.shield(saving), STOPPED_REPLY_WAIT_SECONDS)
        except TimeoutError:
            logger.warning(
                "Saving the stopped reply of %s takes over %s s; it goes on in the background.",
                thread.id,
                STOPPED_REPLY_WAIT_SECONDS,
            )


async def _always_ending(
    parsed: ChatKitReq, events: AsyncGenerator[bytes, None], context: RequestContext
) -> AsyncGenerator[bytes, None]:
    """``events``, ending with the SDK's error event if they fail once
    streaming has begun.

    The SDK turns a failing responder into an error event itself, but not a
    failure outside it (storing the user's message, saving the thread at the
    end): that one it re-raises, and a response whose headers are sent can
    only end, not become an error page. The client gets an error event and
    the response closes. A new thread that failed before even its user
    message was stored is deleted, so no empty thread is left behind.
    Failures before the first event propagate: they still get their status.
    """
    started = False
    created: str | None = None
    async with contextlib.aclosing(events):
        try:
            async for chunk in events:
                if not started and isinstance(parsed, ThreadsCreateReq):
                    created = _created_thread_id(chunk)
                started = True
                yield chunk
        except Exception:
            if not started:
                raise
            # The SDK has logged the failure with its traceback.
            if created is not None:
                await _discard_if_empty(context, created)
            error = ErrorEvent(code=ErrorCode.STREAM_ERROR, allow_retry=True)
            yield b"data: %s\n\n" % error.model_dump_json(by_alias=True, exclude_none=True).encode()


def _created_thread_id(chunk: bytes) -> str | None:
    """The id of the thread a ``thread.created`` event (SSE bytes) announces."""
    try:
        event = json.loads(chunk.removeprefix(b"data: "))
        return event["thread"]["id"] if event.get("type") == "thread.created" else None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


async def _discard_if_empty(context: RequestContext, thread_id: str) -> None:
    try:
        if await _discard_empty_thread(context, thread_id):
            logger.info("Deleted thread %s: its stream failed before anything was kept.", thread_id)
    except Exception:
        logger.exception("Could not delete the empty thread %s", thread_id)


@db_call
def _discard_empty_thread(context: RequestContext, thread_id: str) -> bool:
    return services.conversation_discard_if_empty(owner=context.user, conversation_id=thread_id)


async def _save_stopped_reply(
    context: RequestContext, thread_id: str, partial: list[ThreadItem], note: ThreadItem
) -> None:
    """Never raises: nobody may be waiting for it any more (see above)."""
    try:
        await _keep_stopped_reply(context, thread_id, partial, note)
    except ObjectDoesNotExist:
        logger.info("Thread %s was deleted before its stopped reply was kept.", thread_id)
    except Exception:
        logger.exception("Could not keep the stopped reply of thread %s", thread_id)


@db_call
def _keep_stopped_reply(
    context: RequestContext, thread_id: str, partial: list[ThreadItem], note: ThreadItem
) -> None:
    services.stopped_reply_keep(
        owner=context.user, conversation_id=thread_id, partial=partial, note=note
    )


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


@lru_cache(maxsize=1)
def get_server() -> ChatSiteServer:
    """The process-wide server; it holds no per-request state. The app
    config builds it (``ChatkitAppConfig.build_server``, where the concerns
    are plugged in; a project may subclass the config to build its own)."""
    config = apps.get_app_config("chatkit_app")
    return config.build_server()  # type: ignore[attr-defined]
