"""
A person's reply as a ChatKit thread item.

It is an ``AssistantMessageItem`` (the one item type every ChatKit client
shows as the other side of the conversation, and the model reads as what
was said to the user) of two content parts:

1. a header, ``**Alice** · a person from the team``, carrying an entity
   annotation whose source names the author (``data.chatkit_person``,
   ``transcript.PERSON_AUTHOR_KEY``);
2. the reply's text.

The official component shows the header as the reply's first line (and
the person among the message's sources); the built-in client recognises
the annotation and draws the header as a badge; the model, once the
assistant answers again, reads who said what; the stored row's ``role`` is
``person`` (``serialization.PERSON_ROLE``), for the admin and exports.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from chatkit.types import Annotation, AssistantMessageContent, AssistantMessageItem, EntitySource

from ..ids import generate_id
from ..transcript import PERSON_AUTHOR_KEY

#: Shown after the person's name.
PERSON_LABEL = "a person from the team"
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~])")


def display_name(user: Any) -> str:
    """How a staff member is named to users: full name, else username."""
    full = (user.get_full_name() or "").strip() if hasattr(user, "get_full_name") else ""
    return full or user.get_username()


def staff_reply_item(*, thread_id: str, author: Any, text: str) -> AssistantMessageItem:
    name = display_name(author)
    shown = _MARKDOWN_SPECIALS.sub(r"\\\1", name)
    header = AssistantMessageContent(
        # The blank line keeps it a line of its own where parts are joined
        # without a separator (the model's history).
        text=f"**{shown}** · {PERSON_LABEL}\n\n",
        annotations=[
            Annotation(
                source=EntitySource(
                    id=f"chatkit-person:{author.pk}",
                    title=name,
                    description=PERSON_LABEL.capitalize(),
                    icon="profile",
                    data={PERSON_AUTHOR_KEY: name},
                )
            )
        ],
    )
    return AssistantMessageItem(
        id=generate_id("message"),
        thread_id=thread_id,
        created_at=datetime.now(),
        content=[header, AssistantMessageContent(text=text)],
    )
