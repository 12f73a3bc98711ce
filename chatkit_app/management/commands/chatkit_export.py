"""``manage.py chatkit_export``: conversations as JSON lines or Markdown, streamed."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from datetime import datetime, time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from chatkit_app import selectors
from chatkit_app.management.progress import Progress
from chatkit_app.transcript import conversation_markdown, record_json_line

RENDERERS = {
    "jsonl": record_json_line,
    "md": lambda record: conversation_markdown(record) + "\n",
}


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
        "or as Markdown for people. Streams: memory holds one batch of conversations and "
        "one conversation's items, whatever the size of the database."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", metavar="USERNAME", help="Only this user's conversations.")
        parser.add_argument(
            "--since",
            metavar="DATE",
            help="Only conversations active since DATE (YYYY-MM-DD, or ISO 8601 date and time).",
        )
        parser.add_argument(
            "--format", choices=sorted(RENDERERS), default="jsonl", help="Default: jsonl."
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

        queryset = selectors.conversations_for_export(username=username, since=since)
        render = RENDERERS[options["format"]]
        output = options["output"]
        try:
            target = open(output, "w", encoding="utf-8") if output else nullcontext(None)  # noqa: SIM115
        except OSError as error:
            raise CommandError(f"Cannot write {output}: {error.strerror}.") from None
        with target as file, Progress(self.stderr, total=queryset.count(), label="Exported") as p:
            # Not self.stdout: Django's wrapper would add a newline per write.
            stream = file or getattr(self.stdout, "_out", sys.stdout)
            for record in selectors.conversation_export(
                queryset=queryset, batch_size=options["batch_size"]
            ):
                stream.write(render(record))
                p.update()
        where = f" to {output}" if output else ""
        self.stderr.write(f"Exported {p.done} conversations{where}.")
