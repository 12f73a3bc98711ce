"""``manage.py chatkit_demo``: a demo user, and a few realistic conversations to look at."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chatkit.types import (
    Annotation,
    AssistantMessageContent,
    AssistantMessageItem,
    ClientToolCallItem,
    CustomSummary,
    CustomTask,
    EndOfTurnItem,
    InferenceOptions,
    TaskItem,
    ThoughtTask,
    ThreadItem,
    ThreadMetadata,
    URLSource,
    UserMessageItem,
    UserMessageTextContent,
    WidgetItem,
    Workflow,
    WorkflowItem,
)
from chatkit.widgets import DynamicWidgetRoot
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from chatkit_app import services
from chatkit_app.models import Conversation


def widget(definition: dict[str, Any]) -> DynamicWidgetRoot:
    # What the SDK's WidgetTemplate.build returns for a .widget file.
    return DynamicWidgetRoot.model_validate(definition)


def user(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": UserMessageItem,
        "content": [UserMessageTextContent(text=text)],
        "inference_options": InferenceOptions(),
        **extra,
    }


def assistant(text: str, sources: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    annotations = [Annotation(source=URLSource(url=url, title=title)) for title, url in sources]
    return {
        "kind": AssistantMessageItem,
        "content": [AssistantMessageContent(text=text, annotations=annotations)],
    }


# Each conversation: its thread, its items in order, and what happened around
# them (feedback on an item, model usage, a status set by staff).
CONVERSATIONS: list[dict[str, Any]] = [
    {
        "id": "thr_demo_weather",
        "title": "Weekend weather in Lisbon",
        "days_ago": 3,
        "items": [
            user("What's the weather in Lisbon this weekend? I'd like a long walk by the river."),
            {
                "kind": ClientToolCallItem,
                "status": "completed",
                "call_id": "call_demo_weather",
                "name": "get_weather",
                "arguments": {"city": "Lisbon", "days": ["Saturday", "Sunday"]},
                "output": {
                    "Saturday": {"high_c": 24, "low_c": 16, "sky": "sunny"},
                    "Sunday": {"high_c": 21, "low_c": 15, "sky": "showers after 3 pm"},
                },
            },
            {
                "kind": WidgetItem,
                "copy_text": "Saturday 24°/16° sunny · Sunday 21°/15°, showers after 3 pm",
                "widget": widget(
                    {
                        "type": "Card",
                        "children": [
                            {"type": "Title", "value": "Lisbon this weekend"},
                            {
                                "type": "Row",
                                "gap": 4,
                                "children": [
                                    {
                                        "type": "Col",
                                        "children": [
                                            {"type": "Text", "value": "Saturday"},
                                            {"type": "Text", "value": "24° / 16° · sunny"},
                                        ],
                                    },
                                    {
                                        "type": "Col",
                                        "children": [
                                            {"type": "Text", "value": "Sunday"},
                                            {"type": "Text", "value": "21° / 15° · showers"},
                                        ],
                                    },
                                ],
                            },
                            {
                                "type": "Button",
                                "label": "Remind me on Saturday morning",
                                "onClickAction": {
                                    "type": "reminder.create",
                                    "payload": {"when": "Saturday 08:00"},
                                },
                            },
                        ],
                    }
                ),
            },
            assistant(
                "Saturday is the day for it: sunny and 24 °C, so start early and bring water. "
                "On Sunday go in the morning; showers are forecast after 3 pm.",
                sources=(("IPMA forecast", "https://www.ipma.pt/en/"),),
            ),
            {"kind": EndOfTurnItem},
        ],
        "feedback": [(3, "positive")],
        "usage": [(3, 412, 96, 1840)],
    },
    {
        "id": "thr_demo_dinner",
        "title": "Vegetarian dinner for six",
        "days_ago": 2,
        "items": [
            user("Plan a vegetarian dinner for six on Friday. One guest is allergic to nuts."),
            {
                "kind": WorkflowItem,
                "workflow": Workflow(
                    type="reasoning",
                    tasks=[
                        ThoughtTask(content="No nuts: no pesto, no satay, no baklava."),
                        CustomTask(
                            title="Checked the pantry list",
                            content="Rice, lentils, tomatoes and feta are in.",
                            status_indicator="complete",
                        ),
                    ],
                    summary=CustomSummary(title="Planned a nut-free menu"),
                ),
            },
            assistant(
                "Here's a nut-free menu for six:\n\n"
                "- **Starter:** roasted tomato soup with feta toasts\n"
                "- **Main:** aubergine and lentil moussaka, green salad\n"
                "- **Dessert:** lemon posset with berries\n\n"
                "Everything but the salad can be made on Thursday evening."
            ),
            {
                "kind": TaskItem,
                "task": CustomTask(
                    title="Added to your shopping list",
                    content="Lentils, 3 aubergines, feta, lemons, cream, berries",
                    status_indicator="complete",
                ),
            },
            {
                "kind": WidgetItem,
                "copy_text": "Shopping list: lentils, aubergines, feta, lemons, cream, berries",
                "widget": widget(
                    {
                        "type": "Card",
                        "children": [
                            {"type": "Title", "value": "Shopping list"},
                            {"type": "Text", "value": "Lentils · 3 aubergines · feta"},
                            {"type": "Text", "value": "Lemons · cream · berries"},
                            {
                                "type": "Button",
                                "label": "Send to my phone",
                                "onClickAction": {"type": "list.send", "payload": {}},
                            },
                        ],
                    }
                ),
            },
            {"kind": EndOfTurnItem},
            user("Can the dessert be dairy-free too?", quoted_text="lemon posset with berries"),
            assistant(
                "Yes: swap the posset for a lemon sorbet with berries and mint. "
                "It's dairy-free and nut-free, and can be made two days ahead."
            ),
            {"kind": EndOfTurnItem},
        ],
        "feedback": [(2, "positive"), (7, "negative")],
        "usage": [(2, 655, 180, 2410), (7, 902, 61, 1120)],
    },
    {
        "id": "thr_demo_refund",
        "title": "Refund for order 1042",
        "days_ago": 1,
        "items": [
            user(
                "My order 1042 arrived with the box crushed and a cracked mug. Can I get a refund?"
            ),
            {
                "kind": ClientToolCallItem,
                "status": "completed",
                "call_id": "call_demo_order",
                "name": "lookup_order",
                "arguments": {"order_id": "1042"},
                "output": {"status": "delivered", "total": "€64.90", "delivered_on": "2026-11-18"},
            },
            assistant(
                "I'm sorry about the mug. Order 1042 was delivered on 18 November (€64.90). "
                "I've passed it to our support team with your description; an agent will "
                "reply by email within one working day."
            ),
            {"kind": EndOfTurnItem},
        ],
        "usage": [(2, 530, 74, 1390)],
        "status": (Conversation.Status.LOCKED, "Handed over to a support agent"),
    },
]


class Command(BaseCommand):
    help = (
        "Create the demo user (password = username) if it does not exist, and a few "
        "realistic conversations for it (tool calls, widgets, a workflow, feedback, model "
        "usage, a locked thread) so the chat and the admin have something to show. Safe to "
        "run again: existing conversations are left as they are. Refuses to run with DEBUG "
        "off unless --force: a known password has no place on a public site."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off.")
        parser.add_argument(
            "--no-conversations", action="store_true", help="Only the user, no conversations."
        )

    def handle(self, *args: Any, username: str, force: bool, **options: Any) -> None:
        if not settings.DEBUG and not force:
            raise CommandError("DEBUG is off; pass --force to create a demo user anyway.")
        User = get_user_model()
        user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
        if created:
            user.set_password(username)
            user.is_superuser = True
            user.save()
        state = "Created" if created else "Found"
        self.stdout.write(f"{state} demo user: sign in as {username!r} with password {username!r}.")
        if options["no_conversations"]:
            return
        made = 0
        for spec in CONVERSATIONS:
            thread_id = spec["id"] if username == "demo" else f"{spec['id']}_{username}"
            if Conversation.objects.filter(pk=thread_id).exists():
                continue
            create_conversation(user, thread_id, spec)
            made += 1
        self.stdout.write(
            f"Created {made} demo conversations ({len(CONVERSATIONS) - made} already there)."
        )


@transaction.atomic
def create_conversation(owner, thread_id: str, spec: dict[str, Any]) -> None:
    """One demo conversation through the same services the chat uses."""
    started = timezone.now() - timedelta(days=spec["days_ago"])
    thread = ThreadMetadata(id=thread_id, title=spec["title"], created_at=started)
    services.conversation_save(owner=owner, thread=thread)
    items = [
        build_item(thread_id, position, started + timedelta(seconds=20 * position), fields)
        for position, fields in enumerate(spec["items"])
    ]
    for item in items:
        services.message_upsert(owner=owner, conversation_id=thread_id, item=item)
    for position, kind in spec.get("feedback", []):
        services.feedback_record(
            owner=owner, conversation_id=thread_id, item_ids=[items[position].id], kind=kind
        )
    for position, tokens_in, tokens_out, latency in spec.get("usage", []):
        services.usage_record(
            user=owner,
            thread_id=thread_id,
            message_id=items[position].id,
            provider="openai",
            model="gpt-4.1-mini",
            purpose="response",
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            latency_ms=latency,
        )
    if "status" in spec:
        status, reason = spec["status"]
        conversation = Conversation.objects.get(pk=thread_id)
        services.conversation_set_status(conversation=conversation, status=status, reason=reason)


def build_item(thread_id: str, position: int, at: datetime, fields: dict[str, Any]) -> ThreadItem:
    fields = dict(fields)
    kind = fields.pop("kind")
    # Stable ids, so a second run (and the docs) can point at the same items.
    item_id = f"{thread_id.replace('thr_', 'msg_')}_{position:02}"
    return kind(id=item_id, thread_id=thread_id, created_at=at, **fields)
