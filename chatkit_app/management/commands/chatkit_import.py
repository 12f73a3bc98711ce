"""``manage.py chatkit_import``: load conversations written by chatkit_export."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatkit_app.archive.importer import ImportRecordError, conversation_import
from chatkit_app.management.progress import Progress

# Errors listed in full before the rest are only counted.
MAX_ERRORS_SHOWN = 20


class Command(BaseCommand):
    help = (
        "Load a JSON-lines file written by `chatkit_export --format jsonl` (or '-' for "
        "standard input): the inverse of the export, exact to the microsecond and to the "
        "item JSON. Conversations already present are skipped, so importing twice adds "
        "nothing. Missing users are created by username, with no usable password. Each "
        "conversation is one transaction; a line that does not fit is reported by number "
        "and stores nothing, and the command then exits non-zero."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE.jsonl", help="The export, or - for stdin.")

    def handle(self, *args: Any, file: str, **options: Any) -> None:
        if file == "-":
            source, size = sys.stdin, None
        else:
            try:
                source = open(file, encoding="utf-8")  # noqa: SIM115 (closed below)
                size = os.path.getsize(file)
            except OSError as error:
                raise CommandError(f"Cannot read {file}: {error.strerror}.") from None
        imported = skipped = 0
        errors: list[str] = []
        with source, Progress(self.stderr, total=size, label="Read", unit="bytes") as progress:
            for number, line in enumerate(source, 1):
                progress.update(len(line.encode()))
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    if conversation_import(record=record):
                        imported += 1
                    else:
                        skipped += 1
                except json.JSONDecodeError as error:
                    errors.append(f"line {number}: not JSON ({error.msg}).")
                except ImportRecordError as error:
                    errors.append(f"line {number}: {error}.")
        self.stdout.write(f"Imported {imported} conversations; skipped {skipped} already present.")
        for message in errors[:MAX_ERRORS_SHOWN]:
            self.stderr.write(message)
        if len(errors) > MAX_ERRORS_SHOWN:
            self.stderr.write(f"… and {len(errors) - MAX_ERRORS_SHOWN} more.")
        if errors:
            raise CommandError(
                f"{len(errors)} line(s) could not be imported; nothing of them was stored."
            )
