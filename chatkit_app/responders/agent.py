"""
Answers from a real model: the Agents SDK runs it, ``chatkit.agents``
turns its stream into ChatKit events.

Around the SDK helpers this module adds what a production answer path
needs: the history window and instructions, the user's model choice (from
the allowed list), item ids of our own (providers' ids collide: the Chat
Completions path gives every message ``__fake_id__``), a thread title after
the first exchange, a usage row per model call (estimated for a reply
stopped before the provider reported it), and provider failures that
reach the user as a readable error while what was already written is kept.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from math import ceil
from typing import TYPE_CHECKING

from agents import Agent, ModelSettings, RunConfig, Runner
from asgiref.sync import sync_to_async
from chatkit.agents import AgentContext, stream_agent_response
from chatkit.errors import CustomStreamError
from chatkit.types import (
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ClientToolCallItem,
    InferenceOptions,
    ThreadItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
)

from .. import services
from ..assistants import Assistant, UnknownAssistant, get_assistant
from ..assistants.turns import AssistantRunContext, stop_when_turn_ended
from ..conf import chatkit_settings
from ..context import RequestContext
from ..db import db_call
from ..models import Attachment, ModelUsage
from ..request_errors import ModelNotAllowed
from ..serialization import item_text
from ..store import hand_on_latest_items
from .history import (
    HistoryConverter,
    attachment_inputs,
    attachment_rows,
    recent_items,
    to_model_input,
)
from .instructions import instructions_for
from .model_clients import agents_model
from .provider_errors import describe_failure
from .providers import Provider, allowed_model, current_provider
from .titles import GeneratedTitle, PendingTitle, title_from_text, title_usage

if TYPE_CHECKING:
    from agents.result import RunResultStreaming
    from chatkit.store import Store

logger = logging.getLogger(__name__)


@dataclass
class Turn:
    """Everything read from the database before the model is called."""

    items: list[ThreadItem]
    options: InferenceOptions
    assistant: Assistant
    instructions: str
    attachments: list[Attachment]


@db_call
def prepare_turn(
    context: RequestContext, thread: ThreadMetadata, input_user_message: UserMessageItem | None
) -> Turn:
    # One burst of database work; the connection is released before the
    # model call (which can take a minute) starts.
    items = recent_items(context, thread.id)
    options = turn_options(input_user_message, items)
    assistant = assistant_for(options)
    return Turn(
        items=items,
        options=options,
        assistant=assistant,
        instructions=instructions_for(context, thread, assistant),
        attachments=attachment_rows(context, items),
    )


def build_agent(
    provider: Provider, model: str, instructions: str, assistant: Assistant
) -> Agent[AgentContext]:
    return Agent(
        name=assistant.name,
        instructions=instructions,
        tools=assistant.get_tools(),
        model=agents_model(provider, model),
        # Chat Completions providers only report usage when asked to.
        model_settings=ModelSettings(include_usage=True),
        # A tool that asked the user, or the page, ends the turn.
        tool_use_behavior=stop_when_turn_ended,
    )


def turn_options(
    input_user_message: UserMessageItem | None, items: list[ThreadItem]
) -> InferenceOptions:
    """What the user picked for this turn (model, assistant): from the message
    being answered or, for a tool output or an action, the last one sent."""
    if input_user_message is not None:
        return input_user_message.inference_options
    for item in reversed(items):
        if isinstance(item, UserMessageItem):
            return item.inference_options
    return InferenceOptions()


def assistant_for(options: InferenceOptions) -> Assistant:
    name = options.tool_choice.id if options.tool_choice else None
    try:
        return get_assistant(name)
    except UnknownAssistant as exc:
        raise CustomStreamError(
            f"The assistant {name!r} is not available here.", allow_retry=False
        ) from exc


class ItemIds:
    """Give streamed items ids from our store instead of the provider's.

    An id lives from ``thread.item.added`` to ``thread.item.done``; a provider
    that reuses one id for every message (``__fake_id__``) still gets a fresh
    id of ours for each.

    Updates and removals are renamed in place: the SDK builds a new event for
    each (a text delta is most of a reply's events) and keeps none, and a
    copy cost every delta a pydantic ``model_copy``. Items are copied: the
    SDK's helper may hold on to the one it announced."""

    def __init__(self, store: Store, thread: ThreadMetadata, context: RequestContext):
        self._store, self._thread, self._context = store, thread, context
        self._ids: dict[str, str] = {}

    def _new(self, item: ThreadItem) -> str:
        kind = "tool_call" if isinstance(item, ClientToolCallItem) else "message"
        return self._store.generate_item_id(kind, self._thread, self._context)

    def __call__(self, event: ThreadStreamEvent) -> ThreadStreamEvent:
        match event:
            # Updates first: most of a reply's events are text deltas.
            case ThreadItemUpdatedEvent() if event.item_id in self._ids:
                event.item_id = self._ids[event.item_id]
            case ThreadItemAddedEvent(item=AssistantMessageItem() as item):
                self._ids[item.id] = self._new(item)
                return event.model_copy(
                    update={"item": item.model_copy(update={"id": self._ids[item.id]})}
                )
            case ThreadItemDoneEvent(item=AssistantMessageItem() | ClientToolCallItem() as item):
                ours = self._ids.pop(item.id, None) or self._new(item)
                return event.model_copy(update={"item": item.model_copy(update={"id": ours})})
            case ThreadItemRemovedEvent() if event.item_id in self._ids:
                event.item_id = self._ids.pop(event.item_id)
        return event


@dataclass
class PartialReplies:
    """Assistant messages that started streaming but are not done yet."""

    items: dict[str, AssistantMessageItem] = field(default_factory=dict)
    last_done_id: str = ""
    # time.monotonic() when the first words of an answer went out.
    first_text_at: float | None = None

    def observe(self, event: ThreadStreamEvent) -> None:
        if isinstance(event, ThreadItemUpdatedEvent):
            # Most of a reply's events: no more than a lookup each.
            update = event.update
            item = self.items.get(event.item_id)
            if isinstance(update, AssistantMessageContentPartTextDelta):
                if self.first_text_at is None and update.delta:
                    self.first_text_at = time.monotonic()
                if item is not None and len(item.content) > update.content_index:
                    item.content[update.content_index].text += update.delta
            elif item is not None:
                self._apply(item, update)
            return
        if self.first_text_at is None and _shows_text(event):
            self.first_text_at = time.monotonic()
        match event:
            case ThreadItemAddedEvent(item=AssistantMessageItem() as item):
                self.items[item.id] = item.model_copy(deep=True)
            case ThreadItemDoneEvent(item=item):
                self.items.pop(item.id, None)
                if isinstance(item, AssistantMessageItem):
                    self.last_done_id = item.id

    @staticmethod
    def _apply(item: AssistantMessageItem, update: object) -> None:
        if isinstance(update, AssistantMessageContentPartAdded | AssistantMessageContentPartDone):
            while len(item.content) <= update.content_index:
                item.content.append(update.content.model_copy(update={"text": ""}))
            item.content[update.content_index] = update.content.model_copy(deep=True)

    def written(self) -> list[AssistantMessageItem]:
        return [item for item in self.items.values() if any(p.text.strip() for p in item.content)]


def _shows_text(event: ThreadStreamEvent) -> bool:
    """Whether ``event`` puts an answer's words on the user's screen."""
    match event:
        case ThreadItemUpdatedEvent(update=AssistantMessageContentPartTextDelta(delta=delta)):
            return bool(delta)
        case ThreadItemDoneEvent(item=AssistantMessageItem(content=content)):
            return any(part.text for part in content)
    return False


async def agent_respond(
    store: Store,
    thread: ThreadMetadata,
    input_user_message: UserMessageItem | None,
    context: RequestContext,
) -> AsyncIterator[ThreadStreamEvent]:
    provider = current_provider()
    turn = await prepare_turn(context, thread, input_user_message)
    try:
        model = turn.assistant.model or allowed_model(turn.options.model)
    except ModelNotAllowed as exc:
        raise CustomStreamError(exc.message, allow_retry=False) from exc

    first_exchange = input_user_message is not None and not thread.title
    first_text = item_text(input_user_message) if first_exchange else ""
    # Beside the reply, never in its way (see titles.py).
    title = (
        PendingTitle(provider, first_text)
        if first_exchange and chatkit_settings.GENERATE_TITLES
        else None
    )

    # Files are read off the event loop, after the database connection is released.
    attachments = await sync_to_async(attachment_inputs, thread_sensitive=False)(turn.attachments)
    agent = build_agent(provider, model, turn.instructions, turn.assistant)
    agent_context = AssistantRunContext(
        thread=thread, store=store, request_context=context, assistant=turn.assistant
    )
    started = time.monotonic()
    model_input = await to_model_input(turn.items, HistoryConverter(attachments))
    result = Runner.run_streamed(
        agent,
        model_input,
        context=agent_context,
        run_config=RunConfig(tracing_disabled=not chatkit_settings.TRACING),
    )
    # The Agents SDK helper reads the thread's newest items first thing:
    # they are the ones just read for the history.
    hand_on_latest_items(
        context,
        thread.id,
        turn.items,
        complete=len(turn.items) < chatkit_settings.HISTORY_ITEMS,
    )
    ids = ItemIds(store, thread, context)
    title_applied = False
    partial = PartialReplies()
    try:
        async for event in stream_agent_response(agent_context, result):
            event = ids(event)
            partial.observe(event)
            yield event
            if title is not None and not title_applied:
                # The SDK saves the thread and sends thread.updated after
                # the next event (or at the end).
                title_applied = apply_title(thread, title)
    except asyncio.CancelledError:
        # The client went away or pressed stop: the SDK saves what was
        # written (handle_stream_cancelled); stop paying for the rest. The
        # title is still stored: the thread and its message are.
        result.cancel()
        if title is not None:
            title.finish_later(context, thread)
        # The provider bills a stopped reply too, and reports no usage for
        # it: record an estimate, so that stopping is no way around a budget.
        tokens = estimated_tokens(turn.instructions, model_input, partial.written())
        await record_usage(
            context, thread, provider, model, tokens, started, turn, partial, ModelUsage.STOPPED
        )
        raise
    except Exception as exc:
        result.cancel()
        failure = describe_failure(exc)
        logger.warning(
            "Model provider failure (%s) in thread %s: %r",
            failure.kind,
            thread.id,
            exc,
            exc_info=failure.kind == "error",
        )
        written = partial.written()
        for item in written:
            await save_interrupted(context, thread.id, item)
            yield ThreadItemDoneEvent(item=item)
        tokens = reported_tokens(result) or (
            estimated_tokens(turn.instructions, model_input, written) if written else (0, 0)
        )
        await record_usage(
            context, thread, provider, model, tokens, started, turn, partial, failure.kind
        )
        if title is not None:
            title.cancel()
        if first_exchange and not title_applied:
            thread.title = title_from_text(first_text) or None
        raise CustomStreamError(failure.message, allow_retry=failure.allow_retry) from exc

    generated = None
    if title is not None:
        if title_applied or apply_title(thread, title):
            generated = title.ready()
        else:
            # Not ready: the reply ends now; the title is stored when it comes.
            title.finish_later(context, thread)
    elif first_exchange:
        thread.title = title_from_text(first_text) or None
    tokens = reported_tokens(result) or (0, 0)
    await record_usage(
        context, thread, provider, model, tokens, started, turn, partial, "", title=generated
    )


def apply_title(thread: ThreadMetadata, title: PendingTitle) -> bool:
    """Give ``thread`` the model's title if it is ready (the SDK then saves
    the thread and sends ``thread.updated``)."""
    generated = title.ready()
    if generated is None:
        return False
    thread.title = generated.title
    return True


@db_call
def save_interrupted(context: RequestContext, thread_id: str, item: ThreadItem) -> None:
    services.message_upsert(
        owner=context.user, conversation_id=thread_id, item=item, interrupted=True
    )


def reported_tokens(result: RunResultStreaming) -> tuple[int, int] | None:
    """Input and output tokens as the provider reported them, if it did."""
    usage = result.context_wrapper.usage
    if not (usage.input_tokens or usage.output_tokens):
        return None
    return usage.input_tokens, usage.output_tokens


def estimated_tokens(
    instructions: str, model_input: list, written: list[AssistantMessageItem]
) -> tuple[int, int]:
    """Tokens of a reply the provider never reported usage for (it reports
    at the end): about four characters a token, as OpenAI counts English."""
    sent = len(instructions) + text_chars(model_input)
    received = sum(len(part.text) for item in written for part in item.content)
    return ceil(sent / 4), ceil(received / 4)


#: The fields of model input items that hold text; files and images (data
#: URLs, base64) are left out, they are not counted by their characters.
TEXT_FIELDS = frozenset({"text", "content", "arguments", "output"})


def text_chars(value: object) -> int:
    """Characters of the text in model input items, however nested."""
    if isinstance(value, dict):
        return sum(
            len(v) if isinstance(v, str) and key in TEXT_FIELDS else text_chars(v)
            for key, v in value.items()
        )
    if isinstance(value, list | tuple):
        return sum(text_chars(v) for v in value)
    return 0


async def record_usage(
    context: RequestContext,
    thread: ThreadMetadata,
    provider: Provider,
    model: str,
    tokens: tuple[int, int],
    started: float,
    turn: Turn,
    partial: PartialReplies,
    error: str,
    *,
    title: GeneratedTitle | None = None,
) -> None:
    """The usage row of the reply, and of its title when there is one to
    record with it (one INSERT for both)."""
    first_text = partial.first_text_at
    calls: list[dict[str, object]] = [
        {
            # A failed turn answered nothing (its partial replies are saved as
            # interrupted items, but the usage belongs to no finished answer).
            "message_id": "" if error else partial.last_done_id,
            "provider": provider.name,
            "model": model,
            "assistant": turn.assistant.name,
            "purpose": "response",
            "input_tokens": tokens[0],
            "output_tokens": tokens[1],
            "latency_ms": int((time.monotonic() - started) * 1000),
            "first_token_ms": None if first_text is None else int((first_text - started) * 1000),
            "error": error,
        }
    ]
    if title is not None:
        calls.append(title_usage(provider, title))
    await _record_usages(context, thread.id, calls)


@db_call
def _record_usages(context: RequestContext, thread_id: str, calls: list[dict[str, object]]) -> None:
    services.usages_record(user=context.user, thread_id=thread_id, calls=calls)
