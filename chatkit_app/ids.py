"""Ids for threads, items and attachments: the SDK's prefixes, 128 random bits."""

from __future__ import annotations

import uuid

from chatkit.store import StoreItemType

# Same prefixes as the SDK's default ids, so ids read the same way.
PREFIXES: dict[StoreItemType, str] = {
    "thread": "thr",
    "message": "msg",
    "tool_call": "tc",
    "workflow": "wf",
    "task": "tsk",
    "attachment": "atc",
    "sdk_hidden_context": "shcx",
}


def generate_id(kind: StoreItemType) -> str:
    """A new id of ``kind``.

    The SDK's default keeps 8 hex digits (32 bits): at a few hundred thousand
    rows, primary keys would collide.
    """
    return f"{PREFIXES[kind]}_{uuid.uuid4().hex}"
