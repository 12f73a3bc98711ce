"""
Answers from a real model: the Agents SDK runs it, ``chatkit.agents``
turns its stream into ChatKit events.

Around the SDK helpers this module adds what a production answer path
needs: the history window and instructions, the user's model choice (from
the allowed list), item ids of our own (providers' ids collide: the Chat
Completions path gives every message ``__fake_id__``), a thread title after
the first exchange, a usage row per model call, and provider failures that
reach the user as a readable error while what was already written is kept.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
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

from . import services
from .assistants import Assistant, UnknownAssistant, get_assistant
from .conf import chatkit_settings
from .context import RequestContext
from .db import db_call
from .history import (
    HistoryConverter,
    attachment_inputs,
    attachment_rows,
    recent_items,
    to_model_input,
)
from .instructions import instructions_for
from .model_clients import agents_model
from .models import Attachment
from .provider_errors import describe_failure
from .providers import Provider, allowed_model, current_provider
from .request_errors import ModelNotAllowed
from .serialization import item_text
from .titles import GeneratedTitle, generate_title, title_from_text

if TYPE_CHECKING:
    from agents.result import RunResultStreaming
    from chatkit.store import Store

logger = logging.getLogger(__name__)

# How long the end of an answer waits for its title before using the
# message's first words.
TITLE_WAIT_SECONDS = 10.0


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
    id of ours for each."""

    def __init__(self, store: Store, thread: ThreadMetadata, context: RequestContext):
        self._store, self._thread, self._context = store, thread, context
        self._ids: dict[str, str] = {}

    def _new(self, item: ThreadItem) -> str:
        kind = "tool_call" if isinstance(item, ClientToolCallItem) else "message"
        return self._store.generate_item_id(kind, self._thread, self._context)

    def __call__(self, event: ThreadStreamEvent) -> ThreadStreamEvent:
        match event:
            case ThreadItemAddedEvent(item=AssistantMessageItem() as item):
                self._ids[item.id] = self._new(item)
                return event.model_copy(
                    update={"item": item.model_copy(update={"id": self._ids[item.id]})}
                )
            case ThreadItemDoneEvent(item=AssistantMessageItem() | ClientToolCallItem() as item):
                ours = self._ids.pop(item.id, None) or self._new(item)
                return event.model_copy(update={"item": item.model_copy(update={"id": ours})})
            case ThreadItemUpdatedEvent() if event.item_id in self._ids:
                return event.model_copy(update={"item_id": self._ids[event.item_id]})
            case ThreadItemRemovedEvent() if event.item_id in self._ids:
                return event.model_copy(update={"item_id": self._ids.pop(event.item_id)})
        return event


@dataclass
class PartialReplies:
    """Assistant messages that started streaming but are not done yet."""

    items: dict[str, AssistantMessageItem] = field(default_factory=dict)
    last_done_id: str = ""

    def observe(self, event: ThreadStreamEvent) -> None:
        match event:
            case ThreadItemAddedEvent(item=AssistantMessageItem() as item):
                self.items[item.id] = item.model_copy(deep=True)
            case ThreadItemDoneEvent(item=item):
                self.items.pop(item.id, None)
                if isinstance(item, AssistantMessageItem):
                    self.last_done_id = item.id
            case ThreadItemUpdatedEvent(item_id=item_id) if item_id in self.items:
                self._apply(self.items[item_id], event.update)

    @staticmethod
    def _apply(item: AssistantMessageItem, update: object) -> None:
        if isinstance(update, AssistantMessageContentPartAdded | AssistantMessageContentPartDone):
            while len(item.content) <= update.content_index:
                item.content.append(update.content.model_copy(update={"text": ""}))
            item.content[update.content_index] = update.content.model_copy(deep=True)
        elif isinstance(update, AssistantMessageContentPartTextDelta) and len(item.content) > (
            update.content_index
        ):
            item.content[update.content_index].text += update.delta

    def written(self) -> list[AssistantMessageItem]:
        return [item for item in self.items.values() if any(p.text.strip() for p in item.content)]


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
    title_task = (
        asyncio.create_task(generate_title(provider, first_text))
        if first_exchange and chatkit_settings.GENERATE_TITLES
        else None
    )

    # Files are read off the event loop, after the database connection is released.
    attachments = await sync_to_async(attachment_inputs, thread_sensitive=False)(turn.attachments)
    agent = build_agent(provider, model, turn.instructions, turn.assistant)
    agent_context = AgentContext(thread=thread, store=store, request_context=context)
    started = time.monotonic()
    result = Runner.run_streamed(
        agent,
        await to_model_input(turn.items, HistoryConverter(attachments)),
        context=agent_context,
        run_config=RunConfig(tracing_disabled=not chatkit_settings.TRACING),
    )
    ids = ItemIds(store, thread, context)
    partial = PartialReplies()
    try:
        async for event in stream_agent_response(agent_context, result):
            event = ids(event)
            partial.observe(event)
            yield event
    except asyncio.CancelledError:
        # The client went away or pressed stop: the SDK saves what was
        # written (handle_stream_cancelled); stop paying for the rest.
        result.cancel()
        if title_task:
            title_task.cancel()
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
        for item in partial.written():
            await save_interrupted(context, thread.id, item)
            yield ThreadItemDoneEvent(item=item)
        await record_usage(context, thread, provider, model, result, started, "", failure.kind)
        if title_task:
            title_task.cancel()
        if first_exchange:
            thread.title = title_from_text(first_text) or None
        raise CustomStreamError(failure.message, allow_retry=failure.allow_retry) from exc

    await record_usage(context, thread, provider, model, result, started, partial.last_done_id, "")
    if title_task is not None:
        title = await wait_for_title(title_task, first_text)
        thread.title = title.title  # the SDK saves it and tells the client
        await record_title_usage(context, thread, provider, title)
    elif first_exchange:
        thread.title = title_from_text(first_text) or None


async def wait_for_title(task: asyncio.Task[GeneratedTitle], text: str) -> GeneratedTitle:
    try:
        return await asyncio.wait_for(task, TITLE_WAIT_SECONDS)
    except TimeoutError:
        return GeneratedTitle(title_from_text(text), error="timeout")


@db_call
def save_interrupted(context: RequestContext, thread_id: str, item: ThreadItem) -> None:
    services.message_upsert(
        owner=context.user, conversation_id=thread_id, item=item, interrupted=True
    )


async def record_usage(
    context: RequestContext,
    thread: ThreadMetadata,
    provider: Provider,
    model: str,
    result: RunResultStreaming,
    started: float,
    message_id: str,
    error: str,
) -> None:
    usage = result.context_wrapper.usage
    await _record_usage(
        context,
        thread_id=thread.id,
        message_id=message_id,
        provider=provider.name,
        model=model,
        purpose="response",
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        latency_ms=int((time.monotonic() - started) * 1000),
        error=error,
    )


async def record_title_usage(
    context: RequestContext, thread: ThreadMetadata, provider: Provider, title: GeneratedTitle
) -> None:
    await _record_usage(
        context,
        thread_id=thread.id,
        message_id="",
        provider=provider.name,
        model=provider.title_model,
        purpose="title",
        input_tokens=title.input_tokens,
        output_tokens=title.output_tokens,
        latency_ms=title.latency_ms,
        error=title.error,
    )


@db_call
def _record_usage(context: RequestContext, **fields: object) -> None:
    services.usage_record(user=context.user, **fields)  # type: ignore[arg-type]
