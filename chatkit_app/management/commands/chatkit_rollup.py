"""``manage.py chatkit_rollup``: the dashboard's rollups, checked or rebuilt."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from chatkit_app.rollups import install, rollup_time_zone
from chatkit_app.search_index import rebuild_search


class Command(BaseCommand):
    help = (
        "Show whether the dashboard reads its figures from the rollups; with --rebuild, "
        "(re)create the PostgreSQL triggers that keep them for the current TIME_ZONE and "
        "rebuild every rollup from the rows (writes to conversations, items, feedback and "
        "model usage wait meanwhile: seconds for a million messages). Needed after "
        "TIME_ZONE changes, or after rows were written with the triggers disabled. On SQLite, "
        "--rebuild reads the items' full-text index again (after a VACUUM)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rebuild", action="store_true", help="Rebuild the rollups.")

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor == "sqlite" and options["rebuild"]:
            if not rebuild_search():
                raise CommandError("This SQLite database has no full-text table (no FTS5).")
            self.stdout.write("Rebuilt the items' full-text index (SQLite).")
            return
        if connection.vendor != "postgresql":
            raise CommandError(
                "Rollups are kept on PostgreSQL only; on "
                f"{connection.vendor} the dashboard aggregates the rows themselves "
                "(--rebuild rebuilds the SQLite full-text index)."
            )
        if options["rebuild"]:
            started = time.perf_counter()
            install()
            self.stdout.write(
                f"Rebuilt the rollups for {settings.TIME_ZONE} "
                f"in {time.perf_counter() - started:.1f} s."
            )
            return
        zone = rollup_time_zone()
        if zone is None:
            self.stdout.write("No rollups: run chatkit_rollup --rebuild.")
        elif zone != settings.TIME_ZONE:
            self.stdout.write(
                f"The rollups count days in {zone}, not TIME_ZONE={settings.TIME_ZONE}: the "
                "dashboard aggregates the rows until chatkit_rollup --rebuild."
            )
        else:
            self.stdout.write(f"The dashboard reads the rollups (days in {zone}).")
