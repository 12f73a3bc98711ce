"""
What the chat page hands to the browser: the options of the official
``<openai-chatkit>`` component, and the configuration of our own built-in
client, both built from the one ``CHATKIT_UI`` setting.

Templates pass the result through ``json_script`` (never string
concatenation), so nothing in a setting can break out of the page's markup.
The option names are those of ``@openai/chatkit``'s ``ChatKitOptions``
(checked against its 1.9 type declarations); only ``api.fetch``, a function,
is added in the browser. Attachment limits, the tool picker (registered
assistants) and dictation follow the server's own settings, so neither
client offers what the server would refuse.

Options that are functions in ``@openai/chatkit`` (``entities.onTagSearch``,
``commands.onSearch``/``onSelect``, ``onClientTool``) are added by boot.js,
from what ``page_config`` puts beside the options (the tag search URL, the
commands), so both clients offer the same tags and commands.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils import translation

from .. import assistants
from ..conf import DEFAULTS, chatkit_settings
from ..responders.providers import available_models, current_provider

LAYOUTS = ("full", "sidebar", "modal")
COLOR_SCHEMES = ("light", "dark", "system")
RADII = ("pill", "round", "soft", "sharp")
DENSITIES = ("compact", "normal", "spacious")
BASE_SIZES = (14, 15, 16, 17, 18)
# Placeholder the client replaces with a thread id to build its address.
THREAD_ID_PLACEHOLDER = "__thread_id__"
ATTACHMENT_ID_PLACEHOLDER = "__attachment_id__"
# File-picker extensions of common attachment types; other types get those of
# Python's built-in table (never the machine's mime.types, which varies).
EXTENSIONS = {
    "image/png": [".png"],
    "image/jpeg": [".jpg", ".jpeg"],
    "image/gif": [".gif"],
    "image/webp": [".webp"],
    "application/pdf": [".pdf"],
    "text/plain": [".txt", ".text", ".log"],
    "text/markdown": [".md", ".markdown"],
    "text/csv": [".csv"],
    "application/json": [".json"],
}
_BUILT_IN_TYPES = mimetypes.MimeTypes(filenames=())


def ui_settings() -> dict[str, Any]:
    """``CHATKIT_UI`` merged over the documented defaults, and checked.

    Raises ImproperlyConfigured naming the key at fault, so a typo in a
    setting is reported as such instead of being silently ignored.
    """
    defaults: dict[str, Any] = DEFAULTS["UI"]
    custom = getattr(settings, "CHATKIT_UI", None) or {}
    if not isinstance(custom, dict):
        raise ImproperlyConfigured("CHATKIT_UI must be a dict (JSON object in the environment).")
    _reject_unknown("CHATKIT_UI", custom, defaults)
    merged = {**defaults, **custom}
    theme = custom.get("theme") or {}
    if not isinstance(theme, dict):
        raise ImproperlyConfigured("CHATKIT_UI['theme'] must be a dict.")
    _reject_unknown("CHATKIT_UI['theme']", theme, defaults["theme"])
    merged["theme"] = {**defaults["theme"], **theme}
    _check_values(merged)
    merged["prompts"] = [_prompt(p) for p in merged["prompts"]]
    if isinstance(merged["commands"], list):
        merged["commands"] = [_prompt(p, key="commands") for p in merged["commands"]]
    return merged


def _reject_unknown(name: str, given: dict[str, Any], known: dict[str, Any]) -> None:
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ImproperlyConfigured(
            f"{name} has unknown key(s) {', '.join(unknown)}; known keys: {', '.join(known)}."
        )


def _check_values(ui: dict[str, Any]) -> None:
    theme = ui["theme"]
    choices = {
        "color_scheme": COLOR_SCHEMES,
        "radius": RADII,
        "density": DENSITIES,
        "base_size": BASE_SIZES,
    }
    for key, allowed in choices.items():
        if theme[key] not in allowed:
            raise ImproperlyConfigured(
                f"CHATKIT_UI['theme']['{key}'] must be one of "
                f"{', '.join(map(str, allowed))}, not {theme[key]!r}."
            )
    timeout = ui["fallback_timeout"]
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
        raise ImproperlyConfigured("CHATKIT_UI['fallback_timeout'] must be seconds (>= 0).")
    for key in (
        "model_picker",
        "attachments",
        "dictation",
        "history",
        "feedback",
        "retry",
        "entities",
    ):
        if not isinstance(ui[key], bool):
            raise ImproperlyConfigured(f"CHATKIT_UI['{key}'] must be true or false.")
    if not isinstance(ui["prompts"], list):
        raise ImproperlyConfigured("CHATKIT_UI['prompts'] must be a list.")
    if not isinstance(ui["commands"], bool | list):
        raise ImproperlyConfigured(
            "CHATKIT_UI['commands'] must be true, false or a list of prompts."
        )


def _prompt(value: Any, key: str = "prompts") -> dict[str, str]:
    """A start-screen prompt in the component's shape, from a dict or a string."""
    if isinstance(value, str):
        return {"label": value, "prompt": value}
    if not isinstance(value, dict) or not value.get("prompt"):
        raise ImproperlyConfigured(
            f"Each CHATKIT_UI['{key}'] entry is a string or {{'label', 'prompt', 'icon'}}."
        )
    prompt = {"label": str(value.get("label") or value["prompt"]), "prompt": str(value["prompt"])}
    if value.get("icon"):
        prompt["icon"] = str(value["icon"])
    return prompt


def locale_tag(language: str) -> str:
    """Django's language code as a BCP 47 tag: ``en-us`` -> ``en-US``."""
    parts = language.replace("_", "-").split("-")
    tag = [parts[0].lower()]
    for part in parts[1:]:
        tag.append(part.upper() if len(part) == 2 else part.title())
    return "-".join(tag)


def api_url(ui: dict[str, Any] | None = None) -> str:
    ui = ui or ui_settings()
    return ui["api_url"] or reverse("chatkit")


def attachment_option(ui: dict[str, Any]) -> dict[str, Any]:
    """``composer.attachments``: the server's limits, so the component refuses
    what the server would (the server checks again, against the content)."""
    if not ui["attachments"]:
        return {"enabled": False}
    return {
        "enabled": True,
        "maxCount": chatkit_settings.ATTACHMENT_MAX_COUNT,
        "maxSize": chatkit_settings.ATTACHMENT_MAX_BYTES,
        # showOpenFilePicker's shape: MIME type (or "image/*") -> extensions.
        "accept": {
            mime_type: EXTENSIONS.get(mime_type)
            or sorted(_BUILT_IN_TYPES.guess_all_extensions(mime_type))
            for mime_type in chatkit_settings.ATTACHMENT_ALLOWED_TYPES
        },
    }


def default_assistant() -> str:
    return chatkit_settings.DEFAULT_ASSISTANT


def assistant_choices() -> list[dict[str, str]]:
    """Every registered assistant, the default one first, for the pickers."""
    default = default_assistant()
    found = assistants.registered()
    names = [default, *sorted(name for name in found if name != default)]
    choices = []
    for name in names:
        cls = found.get(name)
        choices.append(
            {
                "id": name,
                "label": cls.label if cls else name,
                "description": cls.description if cls else "",
                "icon": cls.icon if cls else "sparkle",
            }
        )
    return choices


def tool_options(*, exclude: str) -> list[dict[str, Any]]:
    """``composer.tools`` (``ToolOption``s): the assistants a turn can be sent
    to instead of ``exclude``, the one the panel answers with."""
    options = []
    for choice in assistant_choices():
        if choice["id"] == exclude:
            continue
        option = {"id": choice["id"], "label": choice["label"], "icon": choice["icon"]}
        if choice["description"]:
            option["placeholderOverride"] = choice["description"]
        options.append(option)
    return options


def command_choices(ui: dict[str, Any]) -> list[dict[str, str]]:
    """The ``/`` menu (``Command``s of ``@openai/chatkit``, with what each
    does): the assistants, when there is more than one to pick from, and the
    prompts of ``CHATKIT_UI['commands']``."""
    if ui["commands"] is False:
        return []
    commands = []
    assistants = assistant_choices()
    if len(assistants) > 1:
        for choice in assistants:
            commands.append(
                {
                    "id": f"assistant:{choice['id']}",
                    "label": choice["label"],
                    "description": choice["description"] or f"Ask {choice['label']}",
                    "icon": choice["icon"],
                    "group": "Assistants",
                    "assistant": choice["id"],
                }
            )
    for index, prompt in enumerate(ui["commands"] if isinstance(ui["commands"], list) else []):
        command = {
            "id": f"prompt:{index}",
            "label": prompt["label"],
            "icon": prompt.get("icon", "write"),
            "group": "Prompts",
            "prompt": prompt["prompt"],
        }
        if prompt["prompt"] != prompt["label"]:
            command["description"] = prompt["prompt"]
        commands.append(command)
    return commands


def check_assistant(name: str) -> str:
    """``name`` if an assistant is registered under it (or it is the default)."""
    if name != default_assistant() and name not in assistants.registered():
        known = ", ".join(choice["id"] for choice in assistant_choices())
        raise ValueError(f"There is no assistant {name!r}; registered: {known}.")
    return name


def component_options(
    request: HttpRequest,
    *,
    initial_thread: str | None = None,
    ui: dict[str, Any] | None = None,
    assistant: str | None = None,
) -> dict[str, Any]:
    """``ChatKitOptions`` for ``<openai-chatkit>``'s ``setOptions``, minus ``api.fetch``.

    ``assistant``: the assistant this panel answers with when the composer's
    tool picker names none (the page's fetch adds it to each message).
    """
    ui = ui or ui_settings()
    theme = ui["theme"]
    theme_option: dict[str, Any] = {
        # "system" is resolved in the browser, which knows the preference.
        "colorScheme": theme["color_scheme"],
        "radius": theme["radius"],
        "density": theme["density"],
        "typography": {"baseSize": theme["base_size"]},
    }
    if theme["accent"]:
        theme_option["color"] = {"accent": {"primary": theme["accent"], "level": 1}}
    if theme["font_family"]:
        theme_option["typography"]["fontFamily"] = theme["font_family"]

    api: dict[str, Any] = {"url": api_url(ui), "domainKey": ui["domain_key"]}
    composer: dict[str, Any] = {
        "placeholder": ui["placeholder"],
        "attachments": attachment_option(ui),
        "dictation": {"enabled": ui["dictation"]},
    }
    if ui["attachments"]:
        api["uploadStrategy"] = {"type": "two_phase"}
    tools = tool_options(exclude=assistant or default_assistant())
    if tools:
        composer["tools"] = tools
    models = available_models()
    if ui["model_picker"] and len(models) > 1:
        composer["models"] = [
            {"id": model, "label": model, "default": index == 0}
            for index, model in enumerate(models)
        ]

    options: dict[str, Any] = {
        "api": api,
        "locale": ui["locale"] or locale_tag(translation.get_language() or settings.LANGUAGE_CODE),
        "theme": theme_option,
        "initialThread": initial_thread,
        "history": {"enabled": ui["history"], "showDelete": True, "showRename": True},
        "startScreen": {"greeting": ui["greeting"], "prompts": ui["prompts"]},
        "composer": composer,
        "threadItemActions": {"feedback": ui["feedback"], "retry": ui["retry"]},
    }
    if ui["disclaimer"]:
        options["disclaimer"] = {"text": ui["disclaimer"]}
    if ui["entities"]:
        # onTagSearch and onClick are added in the browser (boot.js).
        options["entities"] = {"showComposerMenu": True}
    if command_choices(ui):
        # onSearch and onSelect are added in the browser (boot.js).
        options["commands"] = {"enabled": True}
    return options


def page_config(
    request: HttpRequest,
    *,
    layout: str = "full",
    initial_thread: str | None = None,
    follow_url: bool = False,
    assistant: str | None = None,
) -> dict[str, Any]:
    """Everything one chat panel needs in the browser, for ``json_script``.

    ``follow_url``: the panel owns the page (the chat page itself), so the
    open thread is reflected in the address bar and back/forward work.
    ``assistant``: the assistant this panel's messages go to unless the user
    picks another (None: ``CHATKIT_DEFAULT_ASSISTANT``).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    if assistant is not None:
        check_assistant(assistant)
    ui = ui_settings()
    provider = current_provider()
    return {
        "layout": layout,
        "options": component_options(
            request, initial_thread=initial_thread, ui=ui, assistant=assistant
        ),
        # The built-in client's assistant picker (shown when there are several),
        # and the panel's own choice, sent as inference_options.tool_choice.
        "assistants": assistant_choices(),
        "assistant": assistant if assistant and assistant != default_assistant() else "",
        "dictationMaxSeconds": chatkit_settings.TRANSCRIPTION_MAX_SECONDS,
        # Sent files open through the owner's session (the link is not signed).
        "attachmentFileUrl": reverse("chatkit-attachment-file", args=[ATTACHMENT_ID_PLACEHOLDER]),
        # The "@" menu's search (GET ?q=), when tags are on.
        "entitiesUrl": reverse("chatkit-entities") if ui["entities"] else "",
        # The "/" menu, when commands are on.
        "commands": command_choices(ui),
        "scriptUrl": ui["script_url"],
        "fallbackTimeoutMs": round(float(ui["fallback_timeout"]) * 1000),
        # The token itself, for pages whose CSRF cookie is HttpOnly or in the
        # session; the client prefers the cookie, which stays current.
        "csrfToken": get_token(request),
        "csrfCookieName": settings.CSRF_COOKIE_NAME,
        "csrfHeaderName": settings.CSRF_HEADER_NAME.removeprefix("HTTP_").replace("_", "-"),
        "threadUrl": reverse("chat_thread", args=[THREAD_ID_PLACEHOLDER]) if follow_url else "",
        "homeUrl": reverse("chat") if follow_url else "",
        "offline": provider.offline,
    }
