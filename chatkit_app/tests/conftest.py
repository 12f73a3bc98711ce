"""
Shared fixtures: users (alice, bob and staff charlie, as in healthchecks'
BaseTestCase), request contexts and the store.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model

from chatkit_app.context import RequestContext
from chatkit_app.store import DjangoStore

User = get_user_model()
PASSWORD = "correct horse battery staple"


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", "alice@example.org", PASSWORD)


@pytest.fixture
def bob(db):
    return User.objects.create_user("bob", "bob@example.org", PASSWORD)


@pytest.fixture
def charlie(db):
    """A staff member with every permission."""
    return User.objects.create_user(
        "charlie", "charlie@example.org", PASSWORD, is_staff=True, is_superuser=True
    )


@pytest.fixture
def store() -> DjangoStore:
    return DjangoStore()


@pytest.fixture
def ctx() -> Callable[..., RequestContext]:
    """``ctx(user)``: the request context the store and server expect."""

    def make(user, **kwargs) -> RequestContext:
        return RequestContext(user=user, **kwargs)

    return make
