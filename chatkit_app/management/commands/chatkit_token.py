"""``manage.py chatkit_token``: create, list and revoke API bearer tokens."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatkit_app.models import ApiToken
from chatkit_app.tokens import DISPLAY_PREFIX_LENGTH, token_create, token_revoke


class Command(BaseCommand):
    help = (
        "Create a bearer token for USERNAME and print it (it is shown only once). "
        "With --revoke, revoke the user's tokens (all, or the one named by --prefix); "
        "with --list, list them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label to recognise the token by.")
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--revoke", action="store_true", help="Revoke tokens instead.")
        action.add_argument("--list", action="store_true", help="List the user's tokens.")
        parser.add_argument(
            "--prefix", default="", help="With --revoke: only the token starting with this."
        )

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None

        tokens = ApiToken.objects.filter(user=user)
        if options["list"]:
            for token in tokens:
                state = "revoked" if token.revoked_at else "active"
                used = token.last_used_at.isoformat() if token.last_used_at else "never"
                self.stdout.write(f"{token.prefix}…  {state:8} last used {used}  {token.name}")
            return
        if options["revoke"]:
            if options["prefix"]:
                prefix = options["prefix"]
                if len(prefix) < DISPLAY_PREFIX_LENGTH:
                    raise CommandError(
                        f"--prefix needs the first {DISPLAY_PREFIX_LENGTH} characters of the token."
                    )
                tokens = tokens.filter(prefix=prefix[:DISPLAY_PREFIX_LENGTH])
            count = token_revoke(queryset=tokens)
            self.stdout.write(f"Revoked {count} token(s) of {username}.")
            return
        if options["prefix"]:
            raise CommandError("--prefix only makes sense with --revoke.")

        _, raw = token_create(user=user, name=options["name"])
        # Only the token on stdout, so scripts can capture it.
        self.stdout.write(raw)
        self.stderr.write("Store it now: only its hash is kept, it cannot be shown again.")
