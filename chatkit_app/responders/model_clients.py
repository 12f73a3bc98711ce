"""
OpenAI clients and Agents SDK models for the configured provider.

One ``AsyncOpenAI`` client (and its HTTP connection pool) per provider
configuration per event loop: clients are reused across requests, but never
across event loops, whose connections they cannot share.
"""

from __future__ import annotations

import asyncio
import weakref

from agents import Model, OpenAIChatCompletionsModel, OpenAIResponsesModel
from openai import AsyncOpenAI

from .providers import Provider

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, AsyncOpenAI]] = (
    weakref.WeakKeyDictionary()
)


def openai_client(provider: Provider) -> AsyncOpenAI:
    """The shared async client for ``provider`` on the running event loop."""
    loop = asyncio.get_running_loop()
    key = (provider.api_key, provider.base_url, provider.timeout, provider.max_retries)
    per_loop = _clients.setdefault(loop, {})
    client = per_loop.get(key)
    if client is None:
        client = AsyncOpenAI(
            api_key=provider.api_key,
            base_url=provider.base_url,
            timeout=provider.timeout,
            max_retries=provider.max_retries,
        )
        per_loop[key] = client
    return client


def agents_model(provider: Provider, model: str) -> Model:
    """The Agents SDK model object that speaks the provider's wire format."""
    client = openai_client(provider)
    if provider.wire == "responses":
        return OpenAIResponsesModel(model=model, openai_client=client)
    return OpenAIChatCompletionsModel(model=model, openai_client=client)
