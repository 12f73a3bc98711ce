"""
The instructions (system prompt) the model gets for a request.

The base prompt is a setting (text, or a file for longer prompts), unless
the assistant answering has instructions of its own; a project can extend
it per request with ``CHATKIT_INSTRUCTIONS_HOOK``. The user's
locale is added so replies follow the language the page asks for.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from chatkit.types import ThreadMetadata
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ..conf import chatkit_settings
from ..context import RequestContext

if TYPE_CHECKING:
    from ..assistants import Assistant


def prompt_file_path(name: str) -> Path:
    path = Path(name)
    return path if path.is_absolute() else Path(settings.BASE_DIR) / path


@lru_cache(maxsize=8)
def _read_prompt(path: Path, mtime: float) -> str:
    return path.read_text(encoding="utf-8").strip()


def base_prompt() -> str:
    """The configured system prompt (file contents re-read when the file changes)."""
    if chatkit_settings.SYSTEM_PROMPT_FILE:
        path = prompt_file_path(chatkit_settings.SYSTEM_PROMPT_FILE)
        try:
            return _read_prompt(path, path.stat().st_mtime)
        except OSError as exc:
            raise ImproperlyConfigured(
                f"CHATKIT_SYSTEM_PROMPT_FILE {path} cannot be read: {exc}"
            ) from exc
    return chatkit_settings.SYSTEM_PROMPT


def instructions_for(
    context: RequestContext, thread: ThreadMetadata, assistant: Assistant | None = None
) -> str:
    prompt = assistant.get_instructions(base_prompt()) if assistant else base_prompt()
    if chatkit_settings.INSTRUCTIONS_HOOK:
        hook = import_string(chatkit_settings.INSTRUCTIONS_HOOK)
        prompt = hook(prompt, context=context, thread=thread)
    if context.locale:
        prompt += (
            f"\n\nThe user's locale is {context.locale}: reply in that language unless "
            "they write in another one."
        )
    return prompt
