"""
The export record: one conversation as a self-contained JSON object (its
fields, its items as the SDK's own JSON in order, interrupted marks,
feedback, usage and attachment rows, its review flag and the staff
annotations of its answers, and its handoff to a person; see README,
"Export and import"), written one per line.

A staff member's reply, written while they had taken the conversation
over, is an item like the others: an ``assistant_message`` whose first
content part names the person (an entity annotation whose source's
``data.chatkit_person`` is their display name, ``handoff/replies.py``);
``transcript.person_author`` reads it back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

# A usage row's values, exported and imported as they are stored, beside
# its relations (conversation, user), which a record names its own way.
USAGE_VALUE_FIELDS = (
    "provider",
    "model",
    "assistant",
    "purpose",
    "input_tokens",
    "output_tokens",
    "latency_ms",
    "first_token_ms",
    "error",
)
# An attachment row's values, likewise (its owner is named by username).
ATTACHMENT_FIELDS = (
    "id",
    "kind",
    "name",
    "mime_type",
    "size",
    "preview_url",
    "file",
    "preview",
    "data",
    "uploaded_at",
    "created_at",
)

# An annotation's values, likewise (its answer is ``item_id``, its author a
# username).
ANNOTATION_FIELDS = ("label", "note", "corrected_text", "created_at", "updated_at")

# A handoff's timestamps (beside its state, reason and staff member's username).
HANDOFF_TIMES = ("requested_at", "taken_over_at", "handed_back_at", "updated_at")


def record_json_line(record: Mapping[str, Any]) -> str:
    """One exported conversation as a line of JSON. Keys sorted, so the same
    data gives the same bytes whichever database it came from (PostgreSQL's
    jsonb does not keep key order)."""
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"


def format_timestamp(value: datetime) -> str:
    """Full-precision ISO 8601, so exports round-trip to the microsecond."""
    return value.isoformat()
