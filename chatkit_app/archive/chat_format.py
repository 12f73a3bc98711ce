"""
Conversations as chat-format JSON lines for evaluation or fine-tuning
(``chatkit_export --format openai-jsonl``): one object per conversation,
``{"messages": [{"role": "user", "content": …}, {"role": "assistant", …}]}``,
the format OpenAI's fine-tuning and evals read.

Only what was said is kept: the user's messages and the assistant's
answers, in order, as plain text (``transcript.describe_item``'s text, so
tags and quotes read as the admin shows them). Tool calls, widgets and
hidden context are left out. With ``use_corrections``, an answer that staff
corrected (an annotation's ``corrected_text``; the latest, if several) is
replaced by the correction: the answer it should have been.

Replies a person wrote while they had taken the conversation over
(``handoff/``) are left out by default: they are not the model's answers,
and evaluating or fine-tuning on them as if they were would teach the
model to claim it is that person. With ``include_staff_replies`` they are
``assistant`` turns, their text without the line naming the person (the
user's messages are kept either way: they were said).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..transcript import describe_item

ROLES = {"user_message": "user", "assistant_message": "assistant"}


def corrections(record: Mapping[str, Any]) -> dict[str, str]:
    """``{answer id: corrected text}``, the latest correction of each."""
    latest: dict[str, tuple[str, str]] = {}
    for row in record.get("annotations") or []:
        text = str(row.get("corrected_text") or "").strip()
        if not text:
            continue
        when = str(row.get("updated_at") or "")
        item_id = str(row.get("item_id"))
        if item_id not in latest or when >= latest[item_id][0]:
            latest[item_id] = (when, text)
    return {item_id: text for item_id, (_, text) in latest.items()}


def chat_messages(
    record: Mapping[str, Any],
    *,
    use_corrections: bool = False,
    include_staff_replies: bool = False,
) -> list[dict[str, str]]:
    """The conversation of an export record (``export.conversation_export``)
    as chat messages."""
    replaced = corrections(record) if use_corrections else {}
    messages = []
    for data in record.get("items") or []:
        role = ROLES.get(str(data.get("type", "")))
        if role is None:
            continue
        view = describe_item(data)
        if view.person and not include_staff_replies:
            continue
        content = replaced.get(view.id, view.text)
        if content.strip():
            messages.append({"role": role, "content": content})
    return messages


def chat_json_line(
    record: Mapping[str, Any],
    *,
    use_corrections: bool = False,
    include_staff_replies: bool = False,
) -> str:
    """One line of JSON, or "" for a conversation with nothing said in it."""
    messages = chat_messages(
        record, use_corrections=use_corrections, include_staff_replies=include_staff_replies
    )
    if not messages:
        return ""
    return json.dumps({"messages": messages}, ensure_ascii=False) + "\n"
