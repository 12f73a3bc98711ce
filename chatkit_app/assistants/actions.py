"""
Widget actions: the ``@action`` marker, what a handler sees
(``ActionContext``), and the server's ``action`` / ``sync_action`` hooks
(given to ``ChatSiteServer`` by apps.py), dispatched to the assistant method
registered for the action's type, with its payload validated first.

Streaming actions (``threads.custom_action``) yield events; the SDK stores
replaced items. Sync actions (``threads.sync_custom_action``) return the
updated widget item, which the SDK does not store, so it is saved here.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, get_type_hints

from chatkit.store import Store
from chatkit.types import (
    Action,
    SyncCustomActionResponse,
    ThreadItemReplacedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    WidgetItem,
)
from pydantic import BaseModel, ValidationError

from ..context import RequestContext
from ..request_errors import ChatKitRequestError
from .registry import action_handler


@dataclass
class ActionContext:
    """What an action handler sees: the user, the thread and the widget clicked."""

    request: RequestContext
    thread: ThreadMetadata
    sender: WidgetItem | None

    @property
    def user(self) -> Any:
        return self.request.user


ActionHandler = Callable[..., AsyncIterator[ThreadStreamEvent] | Awaitable[Any]]


def action(action_type: str, *, sync: bool = False) -> Callable[[ActionHandler], ActionHandler]:
    """Mark a method as the handler of widget actions of ``action_type``.

    The method takes ``(self, ctx: ActionContext, payload: <pydantic model>)``;
    the payload is validated against the annotation before it is called. A
    streaming handler is an async generator of ChatKit events; a ``sync``
    handler returns the updated widget item (or None)."""

    def mark(func: ActionHandler) -> ActionHandler:
        func._chatkit_action = (action_type, sync)  # type: ignore[attr-defined]
        return func

    return mark


def payload_model(handler: Callable[..., Any]) -> type[BaseModel] | None:
    hints = get_type_hints(handler)
    model = hints.get("payload")
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def resolve(action: Action[str, Any]) -> tuple[Any, bool, Any]:
    """The handler for ``action``, whether it is sync, and its validated
    payload; ChatKitRequestError (400) for an unknown type or a bad payload."""
    found = action_handler(action.type)
    if found is None:
        raise ChatKitRequestError(
            f"No handler for actions of type {action.type!r}.", code="unknown_action"
        )
    handler, sync = found
    model = payload_model(handler)
    payload: Any = action.payload
    if model is not None:
        try:
            payload = model.model_validate(action.payload or {})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in exc.errors()[:3]
            )
            raise ChatKitRequestError(
                f"Invalid payload for {action.type!r}: {problems}", code="invalid_payload"
            ) from None
    return handler, sync, payload


async def stream_action(
    thread: ThreadMetadata,
    action: Action[str, Any],
    sender: WidgetItem | None,
    context: RequestContext,
) -> AsyncIterator[ThreadStreamEvent]:
    handler, sync, payload = resolve(action)
    ctx = ActionContext(request=context, thread=thread, sender=sender)
    if sync:
        updated = await handler(ctx, payload)
        if updated is not None:
            yield ThreadItemReplacedEvent(item=updated)
        return
    async for event in handler(ctx, payload):
        yield event


async def run_sync_action(
    store: Store,
    thread: ThreadMetadata,
    action: Action[str, Any],
    sender: WidgetItem | None,
    context: RequestContext,
) -> SyncCustomActionResponse:
    handler, sync, payload = resolve(action)
    ctx = ActionContext(request=context, thread=thread, sender=sender)
    if not sync and inspect.isasyncgenfunction(handler):
        # A streaming handler answered through the sync request: keep the
        # last item it replaced, which is what the client shows.
        updated = None
        async for event in handler(ctx, payload):
            if isinstance(event, ThreadItemReplacedEvent):
                updated = event.item
    else:
        updated = await handler(ctx, payload)
    if isinstance(updated, BaseModel):
        await store.save_item(thread.id, updated, context)
    return SyncCustomActionResponse(updated_item=updated)
