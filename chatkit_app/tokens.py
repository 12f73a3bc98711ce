"""
Bearer tokens for API clients and separate frontends.

A token is shown once, when created; the database keeps only its SHA-256
digest (tokens are 256 random bits, so a fast hash is enough) and a short
prefix so people can tell their tokens apart.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from .conf import chatkit_settings
from .models import ApiToken
from .statements import CompiledQuery

TOKEN_PREFIX = "ck_"
# How much of a token is kept in clear, to tell tokens apart in lists.
DISPLAY_PREFIX_LENGTH = len(TOKEN_PREFIX) + 6


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_create(*, user: AbstractBaseUser, name: str = "") -> tuple[ApiToken, str]:
    """Create a token; returns the row and the raw token (shown only now)."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=raw[:DISPLAY_PREFIX_LENGTH], digest=token_digest(raw)
    )
    return token, raw


def token_revoke(*, queryset) -> int:
    return queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


@dataclass(frozen=True)
class UserPreload:
    """Something a concern reads of a bearer token's user in the token's own
    query, rather than in a query of its own on every request."""

    #: Adds to the token query (``ApiToken`` rows, the user at ``user``).
    prepare: Callable[[QuerySet[ApiToken]], QuerySet[ApiToken]]
    #: Keeps, on the token's user, what ``prepare`` read with the token.
    keep: Callable[[ApiToken], None]


#: The preloads of each concern, by name; ``apps.py`` plugs them in (the
#: usage limits': ``limits.policy.TOKEN_PRELOAD``), so the core never
#: imports a concern.
USER_PRELOADS: dict[str, UserPreload] = {}


def _active_token(preloads: tuple[str, ...], digest: str) -> QuerySet[ApiToken]:
    tokens = ApiToken.objects.select_related("user")
    for name in preloads:
        tokens = USER_PRELOADS[name].prepare(tokens)
    # The digest is unique: no ORDER BY (``first()`` would sort by the
    # model's ordering).
    return tokens.filter(digest=digest, revoked_at__isnull=True).order_by()[:1]


#: Every bearer request's query: built once (``statements.CompiledQuery``).
_ACTIVE_TOKEN = CompiledQuery(_active_token)


def token_authenticate(raw: str) -> ApiToken | None:
    """The active token matching ``raw``, with its user (and what each of
    ``USER_PRELOADS`` reads of them); None if there is none."""
    found = _ACTIVE_TOKEN(token_digest(raw), shape=(tuple(USER_PRELOADS),))
    token = found[0] if found else None
    if token is None:
        return None
    now = timezone.now()
    interval = timedelta(seconds=chatkit_settings.TOKEN_TOUCH_INTERVAL)
    # Write last_used_at at most once per interval: not one UPDATE per request.
    if token.last_used_at is None or now - token.last_used_at > interval:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    for preload in USER_PRELOADS.values():
        preload.keep(token)
    return token
