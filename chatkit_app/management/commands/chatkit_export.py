"""``manage.py chatkit_export``: conversations as JSON lines, Markdown or
chat-format JSON lines (``openai-jsonl``, for evaluation or fine-tuning),
streamed."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from datetime import datetime, time
from functools import partial
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from chatkit_app.archive.chat_format import chat_json_line
from chatkit_app.archive.export import conversation_export, conversations_for_export
from chatkit_app.archive.markdown import conversation_markdown
from chatkit_app.archive.records import record_json_line
from chatkit_app.management.progress import Progress

RENDERERS = {
    "jsonl": record_json_line,
    "md": lambda record: conversation_markdown(record) + "\n",
    "openai-jsonl": chat_json_line,
}
FEEDBACK = {"up": "positive", "down": "negative"}


def parse_since(value: str) -> datetime:
    """A date (midnight in TIME_ZONE) or an ISO 8601 date and time."""
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise ValueError(value)
        moment = datetime.combine(day, time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class Command(BaseCommand):
    help = (
        "Write conversations (all, one user's, or those active since a date) as JSON lines, "
        "one self-contained conversation per line that chatkit_import reads back exactly, "
        'or as Markdown for people, or as chat-format JSON lines ({"messages": [...]}) for '
        "evaluation or fine-tuning (--format openai-jsonl, with --use-corrections for the "
        "staff's corrected answers; replies staff wrote after taking a conversation over "
        "are left out unless --include-staff-replies). The jsonl records carry those "
        "replies, marked with the person's display name, and the handoff itself. Streams: "
        "memory holds one batch of conversations and one conversation's items, whatever "
        "the size of the database."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", metavar="USERNAME", help="Only this user's conversations.")
        parser.add_argument(
            "--since",
            metavar="DATE",
            help="Only conversations active since DATE (YYYY-MM-DD, or ISO 8601 date and time).",
        )
        parser.add_argument(
            "--label",
            metavar="LABEL",
            help="Only conversations with an answer staff annotated with LABEL.",
        )
        parser.add_argument(
            "--feedback",
            choices=sorted(FEEDBACK),
            help="Only conversations with a thumbs up (up) or down (down) on an item.",
        )
        parser.add_argument(
            "--flagged", action="store_true", help="Only conversations flagged for review."
        )
        parser.add_argument(
            "--format", choices=sorted(RENDERERS), default="jsonl", help="Default: jsonl."
        )
        parser.add_argument(
            "--use-corrections",
            action="store_true",
            help="openai-jsonl: put the staff's corrected answer in place of the original.",
        )
        parser.add_argument(
            "--include-staff-replies",
            action="store_true",
            help=(
                "openai-jsonl: keep the replies staff wrote after taking a conversation over, "
                "as assistant turns (left out by default: they are not the model's answers)."
            ),
        )
        parser.add_argument(
            "--output", metavar="FILE", help="Write to FILE instead of standard output."
        )
        parser.add_argument(
            "--batch-size", type=int, default=200, help="Conversations read per query."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["user"]
        if username:
            User = get_user_model()
            if not User.objects.filter(**{User.USERNAME_FIELD: username}).exists():
                raise CommandError(f"No user named {username!r}.")
        since = None
        if options["since"]:
            try:
                since = parse_since(options["since"])
            except ValueError:
                raise CommandError(
                    f"--since {options['since']!r}: expected YYYY-MM-DD or an ISO 8601 date "
                    "and time."
                ) from None
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")

        for flag in ("use_corrections", "include_staff_replies"):
            if options[flag] and options["format"] != "openai-jsonl":
                name = "--" + flag.replace("_", "-")
                raise CommandError(f"{name} goes with --format openai-jsonl.")

        queryset = conversations_for_export(
            username=username,
            since=since,
            label=options["label"],
            feedback=FEEDBACK.get(options["feedback"] or ""),
            flagged=options["flagged"],
        )
        render = RENDERERS[options["format"]]
        if options["format"] == "openai-jsonl":
            render = partial(
                chat_json_line,
                use_corrections=options["use_corrections"],
                include_staff_replies=options["include_staff_replies"],
            )

        output = options["output"]
        try:
            target = open(output, "w", encoding="utf-8") if output else nullcontext(None)  # noqa: SIM115
        except OSError as error:
            raise CommandError(f"Cannot write {output}: {error.strerror}.") from None
        with target as file, Progress(self.stderr, total=queryset.count(), label="Exported") as p:
            # Not self.stdout: Django's wrapper would add a newline per write.
            stream = file or getattr(self.stdout, "_out", sys.stdout)
            for record in conversation_export(queryset=queryset, batch_size=options["batch_size"]):
                stream.write(render(record))
                p.update()
        where = f" to {output}" if output else ""
        self.stderr.write(f"Exported {p.done} conversations{where}.")
