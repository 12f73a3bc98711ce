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
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from .conf import chatkit_settings
from .models import ApiToken

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


def token_authenticate(
    raw: str, *, prepare: Callable[[QuerySet[ApiToken]], QuerySet[ApiToken]] | None = None
) -> ApiToken | None:
    """The active token matching ``raw``, with its user; None if there is none.

    ``prepare`` may add to the one query what the request needs next of
    the user (``limits.policy.preload_limits``)."""
    tokens = ApiToken.objects.select_related("user")
    if prepare is not None:
        tokens = prepare(tokens)
    # The digest is unique: no ORDER BY (``first()`` would sort by the
    # model's ordering).
    token = next(
        iter(tokens.filter(digest=token_digest(raw), revoked_at__isnull=True).order_by()[:1]),
        None,
    )
    if token is None:
        return None
    now = timezone.now()
    interval = timedelta(seconds=chatkit_settings.TOKEN_TOUCH_INTERVAL)
    # Write last_used_at at most once per interval: not one UPDATE per request.
    if token.last_used_at is None or now - token.last_used_at > interval:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
