"""``manage.py chatkit_prune``: delete old conversations with their items and files."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from chatkit_app import selectors, services
from chatkit_app.conf import chatkit_settings
from chatkit_app.management.progress import Progress
from chatkit_app.models import Conversation

UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(value: str) -> timedelta:
    """``90d``, ``12h``, ``2w``, ``30m`` as a timedelta."""
    match = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", value.lower())
    if match is None or int(match[1]) == 0:
        raise ValueError(value)
    return timedelta(**{UNITS[match[2]]: int(match[1])})


class Command(BaseCommand):
    help = (
        "Delete conversations with no activity (no new item, no status change) for longer "
        "than --older-than, with their items, feedback, attachment rows and stored files; "
        "with --orphans, delete uploads never sent in a message instead. "
        "Model usage rows stay, for cost reports. Safe to run again (from cron): what is "
        "gone is gone, and each batch is its own transaction."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            metavar="AGE",
            help="Last activity older than this: a number and a unit, m/h/d/w (e.g. 90d, 12h).",
        )
        parser.add_argument(
            "--orphans",
            action="store_true",
            help="Instead, delete uploaded attachments never sent in a message, once older "
            "than --older-than or CHATKIT_ATTACHMENT_ORPHAN_HOURS.",
        )
        parser.add_argument(
            "--status",
            choices=Conversation.Status.values,
            help="Only conversations with this status (e.g. closed).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Conversations per transaction."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from chatkit_app.runs.services import runs_recover

        # Replies a dead server process left running: kept, marked interrupted.
        recovered = runs_recover()
        if recovered:
            self.stdout.write(
                f"Marked {recovered} reply(s) of a stopped server process interrupted."
            )
        if options["orphans"]:
            self.prune_orphans(options)
            return
        if not options["older_than"]:
            raise CommandError("--older-than is required (or --orphans).")
        try:
            age = parse_age(options["older_than"])
        except ValueError:
            raise CommandError(
                f"--older-than {options['older_than']!r}: expected a positive number and a unit "
                "(m, h, d or w), e.g. 90d."
            ) from None
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        before = timezone.now() - age
        queryset = selectors.conversations_inactive_since(before=before, status=options["status"])
        which = f"{options['status']} conversations" if options["status"] else "conversations"
        since = f"no activity since {before:%Y-%m-%d %H:%M} UTC"

        if options["dry_run"]:
            counts = selectors.conversations_contents_count(queryset=queryset)
            self.stdout.write(
                f"Would delete {counts['conversations']} {which}, {counts['items']} items and "
                f"{counts['attachments']} attachments ({since}). Nothing was deleted."
            )
            return

        with Progress(self.stderr, total=queryset.count(), label="Pruned", unit=which) as progress:
            total = services.conversations_prune(
                queryset=queryset,
                batch_size=options["batch_size"],
                on_batch=lambda batch: progress.update(batch.conversations),
            )
        self.stdout.write(
            f"Deleted {total.conversations} {which}, {total.items} items and "
            f"{total.attachments} attachments ({since})."
        )

    def prune_orphans(self, options: dict[str, Any]) -> None:
        if options["status"]:
            raise CommandError("--status does not apply to --orphans.")
        if options["older_than"]:
            try:
                age = parse_age(options["older_than"])
            except ValueError:
                raise CommandError(f"--older-than {options['older_than']!r}: e.g. 24h.") from None
        else:
            age = timedelta(hours=chatkit_settings.ATTACHMENT_ORPHAN_HOURS)
        before = timezone.now() - age
        if options["dry_run"]:
            count = selectors.attachments_orphaned(before=before).count()
            self.stdout.write(
                f"Would delete {count} orphaned attachments (created before "
                f"{before:%Y-%m-%d %H:%M} UTC). Nothing was deleted."
            )
            return
        count = services.attachments_prune_orphans(older_than=before)
        self.stdout.write(
            f"Deleted {count} orphaned attachments (created before {before:%Y-%m-%d %H:%M} UTC)."
        )
