"""
ChatKit settings with their defaults, in the style of django.contrib apps.

Read them as ``chatkit_settings.MAX_REQUEST_BYTES``: each access looks at
``settings.CHATKIT_<NAME>`` first, so ``override_settings`` works in tests and
a project only sets what it wants to change. ``from_environment`` turns
``CHATKIT_<NAME>`` environment variables into settings, parsed by the type of
the default, so this table is the one place a default is written down.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # --- endpoint ---------------------------------------------------------
    # Largest request body /chatkit accepts; larger bodies get 413.
    "MAX_REQUEST_BYTES": 4 * 1024 * 1024,
    # Largest body on every other path (/health, sign-in, the admin, pages):
    # none of them takes files; Django's own DATA_UPLOAD_MAX_MEMORY_SIZE.
    "MAX_BODY_BYTES": 2621440,
    # Largest page a client may ask for in threads.list / items.list.
    "MAX_PAGE_SIZE": 100,
    # Do not write ApiToken.last_used_at more often than this (seconds).
    "TOKEN_TOUCH_INTERVAL": 60,
    # --- offline development responder -------------------------------------
    # Seconds between words of the offline development responder.
    "DEV_RESPONDER_DELAY": 0.04,
    # --- the chat page (chatkit_app/ui/options.py builds the component's options)
    # CHATKIT_UI is merged over this key by key (``theme`` too), so a project
    # sets only what it changes, e.g. CHATKIT_UI='{"greeting": "Hi!"}'.
    "UI": {
        # Endpoint the page talks to; empty is this site's /chatkit.
        "api_url": "",
        # The official component's domain key (register the site's domain with
        # OpenAI for production; any placeholder works on localhost).
        "domain_key": "domain_pk_localhost_dev",
        # The official <openai-chatkit> script; empty always uses the built-in client.
        "script_url": "https://cdn.platform.openai.com/deployments/chatkit/chatkit.js",
        # Seconds to wait for that script before the built-in client takes over.
        "fallback_timeout": 4.0,
        # color_scheme: light, dark or system; radius: pill, round, soft, sharp;
        # density: compact, normal, spacious; empty font_family keeps the default.
        "theme": {
            "color_scheme": "light",
            "accent": "#0f766e",
            "radius": "round",
            "density": "normal",
            "font_family": "",
            "base_size": 16,
        },
        "greeting": "What can I help with today?",
        # Start-screen prompts: {"label", "prompt", "icon"} or plain strings.
        "prompts": [
            {"label": "What can you do?", "prompt": "What can you do?", "icon": "circle-question"},
            {
                "label": "Write a haiku",
                "prompt": "Write a haiku about the sea.",
                "icon": "sparkle",
            },
        ],
        "placeholder": "Message the assistant",
        # Offer the models of CHATKIT_MODELS in the composer (when more than one).
        "model_picker": True,
        "attachments": False,
        "dictation": False,
        "history": True,
        "feedback": True,
        "retry": True,
        # BCP 47 tag, e.g. "de-DE"; empty is the request's language (LANGUAGE_CODE).
        "locale": "",
        # Markdown line shown under the composer; empty shows none.
        "disclaimer": "",
        # "@" in the composer tags the user's things (what the assistants'
        # search_entities offer); tagged messages show them as chips.
        "entities": False,
        # "/" in the composer opens a command menu: true lists the assistants;
        # a list of prompts ({"label", "prompt", "icon"} or strings) adds them.
        "commands": False,
    },
    # --- model provider (see chatkit_app/responders/providers.py) -----------
    # "openai" (Responses API), "gemini", "openai-compatible" (any Chat
    # Completions API at BASE_URL) or "offline". Empty: chosen from the keys
    # present (OPENAI_API_KEY, then GEMINI_API_KEY, then API_KEY + BASE_URL).
    "PROVIDER": "",
    # Key for the provider; empty falls back to OPENAI_API_KEY / GEMINI_API_KEY.
    "API_KEY": "",
    # Base URL of the provider's API; empty is the provider's own.
    "BASE_URL": "",
    # Default model; empty is the provider's default (gpt-4.1-mini, gemini-2.5-flash).
    "MODEL": "",
    # Models users may pick in the composer; empty allows only MODEL.
    "MODELS": [],
    # Model that writes thread titles; empty uses MODEL.
    "TITLE_MODEL": "",
    # Seconds before a provider request times out, and retries on 429/5xx.
    "REQUEST_TIMEOUT": 60.0,
    "MAX_RETRIES": 2,
    # Send traces of agent runs to OpenAI (the Agents SDK's tracing).
    "TRACING": False,
    # Prices per million tokens, {"model": [input, output]} (e.g. USD), so
    # `chatkit_stats` can report what each user costs. Unknown models cost "?".
    "MODEL_PRICES": {},
    # --- usage limits (chatkit_app/limits/) ---------------------------------
    # Each 0 is off. Per user, in UTC periods; staff and superusers are exempt
    # unless LIMITS_APPLY_TO_STAFF. Per-user and per-group overrides are
    # edited in the admin (on the user and group pages).
    # Requests to /chatkit per user and minute.
    "LIMIT_REQUESTS_PER_MINUTE": 0,
    # Model turns (messages answered, retries, tool outputs) per user and day.
    "LIMIT_TURNS_PER_DAY": 0,
    # Tokens (input + output, titles included) per user and day.
    "LIMIT_TOKENS_PER_DAY": 0,
    # Cost per user and calendar month, priced by MODEL_PRICES (same currency).
    "LIMIT_COST_PER_MONTH": 0.0,
    "LIMITS_APPLY_TO_STAFF": False,
    # Share of a daily or monthly limit at which the user is told, once.
    "LIMIT_NOTICE_AT": 0.8,
    # --- what the model is told ---------------------------------------------
    # The system prompt, as text...
    "SYSTEM_PROMPT": "You are a helpful assistant. Answer clearly and concisely.",
    # ...or from a file (wins when set; relative paths are from the project
    # root), e.g. chatkit_app/prompts/task_manager.md.
    "SYSTEM_PROMPT_FILE": "",
    # Dotted path to ``hook(prompt, *, context, thread) -> str`` that extends
    # the prompt per request (the user's name, their data, the time...).
    "INSTRUCTIONS_HOOK": "",
    # How many of the latest thread items are sent to the model as history.
    "HISTORY_ITEMS": 30,
    # Generate a short title after the first exchange.
    "GENERATE_TITLES": True,
    # --- assistants (chatkit_app/assistants/) ------------------------------
    # The assistant that answers unless the composer's tool picker names another.
    "DEFAULT_ASSISTANT": "assistant",
    # Tools of the default assistant: dotted paths to functions whose first
    # argument is a chatkit_app.assistants.ToolContext. The default lets the
    # user ask for a person (chatkit_app/handoff/); keep it when adding others.
    "TOOLS": ["chatkit_app.handoff.tools.ask_for_person"],
    # --- voice input (dictation) --------------------------------------------
    # Transcription model; empty is the provider's default.
    "TRANSCRIPTION_MODEL": "",
    # Largest audio clip accepted, in bytes and in seconds.
    "TRANSCRIPTION_MAX_BYTES": 3 * 1024 * 1024,
    "TRANSCRIPTION_MAX_SECONDS": 120,
    # --- attachments (chatkit_app/attachments/) ----------------------------
    # Largest file a user may attach, and how many files one message may carry.
    "ATTACHMENT_MAX_BYTES": 10 * 1024 * 1024,
    "ATTACHMENT_MAX_COUNT": 4,
    # MIME types accepted, checked against the file's content; "image/*" style
    # wildcards allowed.
    "ATTACHMENT_ALLOWED_TYPES": [
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "text/plain",
        "text/markdown",
        "text/csv",
        "application/json",
    ],
    # Longest side of image previews, in pixels.
    "ATTACHMENT_PREVIEW_SIZE": 512,
    # Seconds a signed upload, preview or download link stays valid.
    "ATTACHMENT_URL_MAX_AGE": 3600,
    # Uploads never sent in a message are removed by `chatkit_prune --orphans`
    # once they are this many hours old.
    "ATTACHMENT_ORPHAN_HOURS": 24,
    # Characters of a text file's content sent to the model.
    "ATTACHMENT_TEXT_CHARS": 20000,
    # Absolute base URL for links built outside a request (commands), e.g.
    # https://chat.example.org; inside a request the request's host is used.
    "PUBLIC_URL": "http://localhost:8000",
    # --- live updates for staff (chatkit_app/live/) -------------------------
    # Publish items, activity and replies being written to the admin's watch
    # and activity pages through the channel layer (REDIS_URL across processes).
    "LIVE_UPDATES": True,
    # Seconds over which a reply's text deltas are merged into one message
    # (0 sends every delta); keeps Redis traffic low on fast streams.
    "LIVE_DELTA_INTERVAL": 0.1,
    # Items (and activity entries) a watcher gets on first connecting; a
    # reconnecting watcher gets everything it missed instead.
    "LIVE_BACKLOG": 50,
    # Seconds between re-checks of an open staff socket (session still there,
    # account active, staff, permission); an event is never sent on a check
    # older than this. A socket whose watcher lost the right closes (4401/4403).
    "LIVE_RECHECK_INTERVAL": 5.0,
    # --- review (the admin's review queue and annotations) -----------------
    # Labels staff can give an answer they annotate, in the order the form
    # lists them. Changing the list keeps existing annotations as they are.
    "REVIEW_LABELS": [
        "wrong",
        "incomplete",
        "unhelpful",
        "unsafe",
        "off-topic",
        "good",
    ],
    # --- replies that outlive the request (chatkit_app/runs/) ---------------
    # What a client that hangs up without asking to stop means: "cancel"
    # (stop the reply, keep the partial answer marked interrupted: what the
    # official component means when it aborts) or "continue" (the reply is
    # written to the end and stored). A request may choose with the header
    # X-ChatKit-Disconnect (the built-in client sends "continue": its Stop
    # button calls POST /chatkit/threads/<id>/stop).
    "DISCONNECT": "cancel",
    # Replies per user that may go on with nobody reading them; one more
    # that loses its reader is stopped instead (0: none go on).
    "MAX_BACKGROUND_RUNS": 3,
    # A reply still being written after this many seconds is stopped (0: no limit).
    "MAX_RUN_SECONDS": 600,
    # Seconds between a running reply's heartbeats; a reply whose heartbeat is
    # three times older belongs to a process that died and is marked interrupted.
    "RUN_HEARTBEAT_SECONDS": 5.0,
    # Threads per process that run the ORM work of requests and replies
    # (chatkit_app/db.py); each holds at most one pooled connection at a time.
    # 0: each request's and reply's work on a thread of its own.
    "DB_THREADS": 4,
}


class ChatKitSettings:
    """Attribute access to CHATKIT_* settings, falling back to DEFAULTS."""

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown ChatKit setting: {name}")
        return getattr(settings, f"CHATKIT_{name}", DEFAULTS[name])


chatkit_settings = ChatKitSettings()


def parse_env_value(name: str, raw: str) -> Any:
    """Parse the environment's string for setting ``name`` by its default's type."""
    default = DEFAULTS[name]
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off", ""}:
            return False
        raise ValueError(f"CHATKIT_{name}: expected a boolean, got {raw!r}")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, list | tuple):
        raw = raw.strip()
        if raw.startswith("["):
            return json.loads(raw)
        return [part.strip() for part in raw.split(",") if part.strip()]
    if isinstance(default, dict):
        return json.loads(raw)
    return raw


def from_environment(environ: dict[str, str]) -> dict[str, Any]:
    """``{"CHATKIT_<NAME>": value}`` for every known setting the environment sets."""
    values = {}
    for name in DEFAULTS:
        raw = environ.get(f"CHATKIT_{name}")
        if raw is not None:
            values[f"CHATKIT_{name}"] = parse_env_value(name, raw)
    return values
