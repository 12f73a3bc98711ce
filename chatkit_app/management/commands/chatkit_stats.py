"""``manage.py chatkit_stats``: conversations, messages, active users, tokens by
model and day, what each user costs, and the users closest to a usage limit."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from chatkit_app import selectors
from chatkit_app.conf import chatkit_settings
from chatkit_app.limits.selectors import users_near_limits
from chatkit_app.models import UsageCounter

KIND_LABELS = dict(UsageCounter.Kind.choices)


class Command(BaseCommand):
    help = (
        "Print totals (conversations by status, thread items, users with conversations) and, "
        "for the last --days days, active conversations and users and the tokens each model "
        "used per day, tokens and cost per user (prices from CHATKIT_MODEL_PRICES), and "
        "the users closest to a usage limit, with their use of each in its current period. "
        "--json prints the same as one JSON object for scripts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=30, help="Length of the recent window (default 30)."
        )
        parser.add_argument("--json", action="store_true", help="Machine-readable output.")
        parser.add_argument(
            "--top", type=int, default=20, help="Users listed by cost (default 20)."
        )

    def handle(self, *args: Any, days: int, **options: Any) -> None:
        if days < 1:
            raise CommandError("--days must be at least 1.")
        since = timezone.now() - timedelta(days=days)
        stats = selectors.usage_stats(since=since)
        stats["users_by_cost"] = selectors.usage_by_user(
            since=since, prices=chatkit_settings.MODEL_PRICES
        )
        stats["users_near_limits"] = users_near_limits(top=options["top"])
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
        else:
            self.write_tokens_by_day(rows, window)
            self.write_users_by_cost(stats["users_by_cost"], window, options["top"])
        self.write_users_near_limits(stats["users_near_limits"])

    def write_users_near_limits(self, users: list[dict[str, Any]]) -> None:
        if not users:
            self.stdout.write("Usage limits: nobody has used any of a limit this period")
            return
        self.stdout.write("Usage against limits (this minute, day and month; UTC):")
        table = [("user", "limit", "used", "of", "share")]
        for user in users:
            for line in user["usage"]:
                table.append(
                    (
                        user["user"],
                        KIND_LABELS[line["kind"]],
                        line["used"],
                        line["limit"],
                        f"{line['share']:.0%}",
                    )
                )
        self.write_table(table, left=2)

    def write_users_by_cost(self, users: list[dict[str, Any]], window: str, top: int) -> None:
        self.stdout.write(f"Cost by user ({window}; CHATKIT_MODEL_PRICES per million tokens):")
        table = [("user", "calls", "input", "output", "cost")]
        for user in users[:top]:
            cost = f"{user['cost']:.4f}"
            if user["unpriced_models"]:
                cost += " + ? (" + ", ".join(sorted(set(user["unpriced_models"]))) + ")"
            table.append(
                (
                    user["user"],
                    str(user["calls"]),
                    str(user["input_tokens"]),
                    str(user["output_tokens"]),
                    cost,
                )
            )
        self.write_table(table, left=1)
        if len(users) > top:
            self.stdout.write(f"  … and {len(users) - top} more users (--top to see more)")

    def write_tokens_by_day(self, rows: list[dict[str, Any]], window: str) -> None:
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
        self.write_table(table, left=3)

    def write_table(self, table: list[tuple[str, ...]], left: int) -> None:
        """Columns aligned: the first ``left`` to the left, numbers to the right."""
        widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
        for line in table:
            cells = [
                cell.ljust(width) if i < left else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(line, widths, strict=True))
            ]
            self.stdout.write("  " + "  ".join(cells).rstrip())
