"""``manage.py chatkit_demo``: a demo user to sign in with on a development machine."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Create the demo user (password = username) if it does not exist. "
        "Refuses to run with DEBUG off unless --force: a known password has no "
        "place on a public site."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off.")

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
