"""
The registry of assistants: ``@register``, the autodiscovery of every
installed app's ``assistants.py`` (from ``ChatkitAppConfig.ready``, like
``admin.py``), looking an assistant up by name, and the entities they all
offer the composer's ``@`` menu.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chatkit.types import UserMessageInput
from django.utils.module_loading import autodiscover_modules

from ..conf import chatkit_settings
from ..context import RequestContext
from ..request_errors import ChatKitRequestError
from .base import Assistant, DefaultAssistant, Entity

_registry: dict[str, type[Assistant]] = {}


def register(cls: type[Assistant]) -> type[Assistant]:
    """Class decorator: make an assistant available by its ``name``."""
    existing = _registry.get(cls.name)
    if existing is not None and existing is not cls and existing is not DefaultAssistant:
        raise ValueError(f"Two assistants are named {cls.name!r}: {existing} and {cls}.")
    _registry[cls.name] = cls
    return cls


def autodiscover() -> None:
    """Import every installed app's ``assistants`` module (from AppConfig.ready)."""
    autodiscover_modules("assistants")


def registered() -> dict[str, type[Assistant]]:
    return dict(_registry)


class UnknownAssistant(LookupError):
    pass


def get_assistant(name: str | None = None) -> Assistant:
    """The assistant called ``name``, or the default one."""
    wanted = name or chatkit_settings.DEFAULT_ASSISTANT
    cls = _registry.get(wanted)
    if cls is None:
        if name is None and wanted == DefaultAssistant.name:
            return DefaultAssistant()
        raise UnknownAssistant(wanted)
    return cls()


async def check_tool_choice(input: UserMessageInput, context: RequestContext) -> None:
    """Refuse a message sent to an assistant nobody registered (400
    ``unknown_assistant``): one of the server's input checks."""
    choice = input.inference_options.tool_choice
    if choice and choice.id not in _registry:
        raise ChatKitRequestError(f"There is no assistant {choice.id!r}.", code="unknown_assistant")


def action_handler(action_type: str) -> tuple[Callable[..., Any], bool] | None:
    """The handler of ``action_type`` among all registered assistants."""
    for cls in _registry.values():
        handlers = cls().action_handlers()
        if action_type in handlers:
            return handlers[action_type]
    return None


#: Most entities one search returns, all assistants together.
MAX_ENTITIES = 20


def search_entities(user: Any, query: str) -> list[Entity]:
    """What every registered assistant offers ``user`` for ``query``, in the
    order of the assistants' names, at most MAX_ENTITIES (sync: the ORM)."""
    found: list[Entity] = []
    seen: set[str] = set()
    for name in sorted(_registry):
        for entity in _registry[name]().search_entities(user, query):
            if entity.id not in seen:
                seen.add(entity.id)
                found.append(entity)
            if len(found) >= MAX_ENTITIES:
                return found
    return found
