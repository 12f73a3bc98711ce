"""``manage.py chatkit_stats``: conversations, messages, active users, tokens by model and day."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from chatkit_app import selectors


class Command(BaseCommand):
    help = (
        "Print totals (conversations by status, thread items, users with conversations) and, "
        "for the last --days days, active conversations and users and the tokens each model "
        "used per day. --json prints the same as one JSON object for scripts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=30, help="Length of the recent window (default 30)."
        )
        parser.add_argument("--json", action="store_true", help="Machine-readable output.")

    def handle(self, *args: Any, days: int, **options: Any) -> None:
        if days < 1:
            raise CommandError("--days must be at least 1.")
        since = timezone.now() - timedelta(days=days)
        stats = selectors.usage_stats(since=since)
        if options["json"]:
            self.stdout.write(json.dumps({**stats, "days": days}, default=str, indent=2))
            return

        conversations, messages, users = stats["conversations"], stats["messages"], stats["users"]
        by_status = ", ".join(f"{n} {status}" for status, n in conversations["by_status"].items())
        window = f"in the last {days} days"
        self.stdout.write(
            f"Conversations: {conversations['total']} ({by_status}); "
            f"{conversations['active_since']} active {window}"
        )
        self.stdout.write(f"Thread items: {messages['total']}; {messages['since']} {window}")
        self.stdout.write(
            f"Users: {users['with_conversations']} with conversations; "
            f"{users['active_since']} active {window}"
        )
        rows = stats["tokens_by_day"]
        if not rows:
            self.stdout.write(f"Tokens: no model calls {window}")
            return
        self.stdout.write(f"Tokens by model and day ({window}):")
        header = ("day", "provider", "model", "calls", "errors", "input", "output")
        table = [header] + [
            (
                row["day"],
                row["provider"] or "-",
                row["model"],
                str(row["responses"]),
                str(row["errors"]),
                str(row["input_tokens"]),
                str(row["output_tokens"]),
            )
            for row in rows
        ]
        totals = (
            "total",
            "",
            "",
            str(sum(r["responses"] for r in rows)),
            str(sum(r["errors"] for r in rows)),
            str(sum(r["input_tokens"] for r in rows)),
            str(sum(r["output_tokens"] for r in rows)),
        )
        table.append(totals)
        widths = [max(len(line[i]) for line in table) for i in range(len(header))]
        for line in table:
            cells = [
                cell.ljust(width) if i < 3 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(line, widths, strict=True))
            ]
            self.stdout.write("  " + "  ".join(cells).rstrip())
