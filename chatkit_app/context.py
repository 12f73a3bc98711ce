"""The per-request context handed to every ChatKit store and server call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.http import HttpRequest


@dataclass
class RequestContext:
    """Who is asking, and how.

    The store reads only ``user``: everything it returns is scoped to that
    user. The rest is for the responder (locale for replies, the request for
    building absolute URLs) and for features added later.
    """

    user: AbstractBaseUser
    request: HttpRequest | None = None
    auth_method: Literal["session", "token", "internal"] = "internal"
    locale: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
