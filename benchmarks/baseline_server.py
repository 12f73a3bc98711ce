"""
The baseline for ``versus_baseline.py``: the SDK's own ``ChatKitServer`` on
FastAPI with a plain in-memory store, as a typical integrator writes it.

It follows OpenAI's starter app (``openai-chatkit-starter-app``,
``chatkit/backend/app/server.py``): the last 30 items as history, an Agents
SDK ``Agent`` run with ``Runner.run_streamed`` and turned into ChatKit events
by ``chatkit.agents.stream_agent_response``, and ``POST /chatkit`` answering
server-sent events for streaming requests and JSON otherwise. No titles, no
attachment store, no authentication, no database, tracing off. The only
change from the starter is the one any Chat Completions integrator must make:
assistant history as plain text (the SDK's default ``output_text`` parts make
the Agents SDK's Chat Completions model fail from the second turn on).

Not a part of the site. Run it with uvicorn; the fake provider's address
comes from the environment::

    BASELINE_BASE_URL=http://127.0.0.1:PORT/v1 BASELINE_API_KEY=sk-… \\
        .venv/bin/python -m uvicorn benchmarks.baseline_server:app \\
        --loop uvloop --http httptools --no-access-log --port 8801
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from agents import Agent, OpenAIChatCompletionsModel, RunConfig, Runner, TResponseInputItem
from chatkit.agents import AgentContext, ThreadItemConverter, stream_agent_response
from chatkit.server import ChatKitServer, StreamingResult
from chatkit.store import NotFoundError, Store
from chatkit.types import (
    AssistantMessageItem,
    Attachment,
    Page,
    ThreadItem,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
)
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from openai import AsyncOpenAI

MAX_RECENT_ITEMS = 30

Context = dict[str, Any]


class MemoryStore(Store[Context]):
    """Threads and items in dictionaries: one process, gone on restart."""

    def __init__(self) -> None:
        self.threads: dict[str, ThreadMetadata] = {}
        self.items: dict[str, list[ThreadItem]] = {}
        self.attachments: dict[str, Attachment] = {}

    async def load_thread(self, thread_id: str, context: Context) -> ThreadMetadata:
        try:
            return self.threads[thread_id].model_copy(deep=True)
        except KeyError:
            raise NotFoundError(f"Thread {thread_id} not found") from None

    async def save_thread(self, thread: ThreadMetadata, context: Context) -> None:
        self.threads[thread.id] = thread.model_copy(deep=True)
        self.items.setdefault(thread.id, [])

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: Context
    ) -> Page[ThreadItem]:
        items = self.items.get(thread_id, [])
        ordered = list(reversed(items)) if order == "desc" else list(items)
        start = 0
        if after is not None:
            ids = [item.id for item in ordered]
            start = ids.index(after) + 1 if after in ids else len(ordered)
        page = ordered[start : start + limit]
        has_more = start + limit < len(ordered)
        return Page(
            data=[item.model_copy(deep=True) for item in page],
            has_more=has_more,
            after=page[-1].id if has_more and page else None,
        )

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: Context
    ) -> Page[ThreadMetadata]:
        threads = sorted(self.threads.values(), key=lambda t: t.created_at, reverse=order == "desc")
        start = 0
        if after is not None:
            ids = [thread.id for thread in threads]
            start = ids.index(after) + 1 if after in ids else len(threads)
        page = threads[start : start + limit]
        has_more = start + limit < len(threads)
        return Page(
            data=[thread.model_copy(deep=True) for thread in page],
            has_more=has_more,
            after=page[-1].id if has_more and page else None,
        )

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: Context) -> None:
        # Appended, not matched by id: on the Chat Completions path every
        # assistant message arrives with the Agents SDK's "__fake_id__".
        self.items.setdefault(thread_id, []).append(item.model_copy(deep=True))

    async def save_item(self, thread_id: str, item: ThreadItem, context: Context) -> None:
        items = self.items.setdefault(thread_id, [])
        for index, existing in enumerate(items):
            if existing.id == item.id:
                items[index] = item.model_copy(deep=True)
                return
        items.append(item.model_copy(deep=True))

    async def load_item(self, thread_id: str, item_id: str, context: Context) -> ThreadItem:
        for item in self.items.get(thread_id, []):
            if item.id == item_id:
                return item.model_copy(deep=True)
        raise NotFoundError(f"Item {item_id} not found")

    async def delete_thread(self, thread_id: str, context: Context) -> None:
        self.threads.pop(thread_id, None)
        self.items.pop(thread_id, None)

    async def delete_thread_item(self, thread_id: str, item_id: str, context: Context) -> None:
        self.items[thread_id] = [i for i in self.items.get(thread_id, []) if i.id != item_id]

    async def save_attachment(self, attachment: Attachment, context: Context) -> None:
        self.attachments[attachment.id] = attachment.model_copy(deep=True)

    async def load_attachment(self, attachment_id: str, context: Context) -> Attachment:
        try:
            return self.attachments[attachment_id].model_copy(deep=True)
        except KeyError:
            raise NotFoundError(f"Attachment {attachment_id} not found") from None

    async def delete_attachment(self, attachment_id: str, context: Context) -> None:
        self.attachments.pop(attachment_id, None)


class PlainTextHistory(ThreadItemConverter):
    async def assistant_message_to_input(
        self, item: AssistantMessageItem
    ) -> TResponseInputItem | list[TResponseInputItem] | None:
        text = "".join(part.text for part in item.content)
        return {"type": "message", "role": "assistant", "content": text} if text else None


assistant = Agent[AgentContext[Context]](
    name="Baseline assistant",
    instructions="You are a concise, helpful assistant.",
    model=OpenAIChatCompletionsModel(
        model=os.environ.get("BASELINE_MODEL", "fake-model"),
        openai_client=AsyncOpenAI(
            base_url=os.environ["BASELINE_BASE_URL"],
            api_key=os.environ["BASELINE_API_KEY"],
            max_retries=0,
        ),
    ),
)
history = PlainTextHistory()


class BaselineServer(ChatKitServer[Context]):
    async def respond(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: Context,
    ) -> AsyncIterator[ThreadStreamEvent]:
        recent = await self.store.load_thread_items(
            thread.id, after=None, limit=MAX_RECENT_ITEMS, order="desc", context=context
        )
        agent_context = AgentContext(thread=thread, store=self.store, request_context=context)
        result = Runner.run_streamed(
            assistant,
            await history.to_agent_input(list(reversed(recent.data))),
            context=agent_context,
            run_config=RunConfig(tracing_disabled=True),
        )
        async for event in stream_agent_response(agent_context, result):
            yield event


server = BaselineServer(MemoryStore())
app = FastAPI()


@app.post("/chatkit")
async def chatkit_endpoint(request: Request) -> Response:
    result = await server.process(await request.body(), {"request": request})
    if isinstance(result, StreamingResult):
        return StreamingResponse(result, media_type="text/event-stream")
    return Response(content=result.json, media_type="application/json")


@app.get("/health")
async def health() -> JSONResponse:
    return JSONResponse({"status": "ok"})
