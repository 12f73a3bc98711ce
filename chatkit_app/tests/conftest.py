"""
Shared fixtures: users (alice, bob and staff charlie, as in healthchecks'
BaseTestCase), request contexts and the store.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator

import pytest
from asgiref.sync import SyncToAsync
from django.contrib.auth import get_user_model
from django.db import OperationalError, connections

from chatkit_app.context import RequestContext
from chatkit_app.db import DATABASE_THREADS
from chatkit_app.store import DjangoStore

from .chatkit_client import ApiClient
from .fake_provider import FakeProvider
from .live_daphne import LiveDaphne, start_daphne

User = get_user_model()
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session", autouse=True)
def close_connections_of_async_tests(django_db_setup):
    """Close, before the test databases are dropped, the connections that
    async tests opened in asgiref's one thread for ``sync_to_async`` (there
    is no request's executor in a test) and on the database threads (a
    thread keeps its connection while calls wait for it). Left open,
    PostgreSQL refuses to drop a database "being accessed by other users".

    Last, a collection: a connection whose thread ended without closing it
    (a test's own threads) is unreachable but open until the collector
    frees its wrapper's reference cycle. One was found open at this point
    in a PostgreSQL run, in no pool and referenced by nothing, and it went
    away with ``gc.collect()``."""
    yield
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()
    DATABASE_THREADS.close_connections()
    gc.collect()


#: PostgreSQL's SQLSTATE for "deadlock detected".
DEADLOCK_DETECTED = "40P01"
FLUSH_ATTEMPTS = 5


@pytest.fixture(scope="session", autouse=True)
def flush_retried_after_a_deadlock():
    """Retry a test database's flush that PostgreSQL chose as a deadlock's
    victim. A test with a server process ends once the page shows the
    reply; the server may still be finishing that turn (the usage row, the
    reply run's end, the title) while the teardown truncates every table,
    and a deferred rollup trigger firing at that commit takes its locks in
    another order than the TRUNCATE. A failed flush left the data behind
    for every later test of that worker."""
    from django.db.backends.base.operations import BaseDatabaseOperations

    original = BaseDatabaseOperations.execute_sql_flush

    def execute_sql_flush(self: BaseDatabaseOperations, sql_list: list[str]) -> None:
        for attempt in range(1, FLUSH_ATTEMPTS + 1):
            try:
                return original(self, sql_list)
            except OperationalError as exc:
                deadlock = getattr(exc.__cause__, "sqlstate", None) == DEADLOCK_DETECTED
                if not deadlock or attempt == FLUSH_ATTEMPTS:
                    raise
                time.sleep(0.2 * attempt)

    BaseDatabaseOperations.execute_sql_flush = execute_sql_flush  # type: ignore[method-assign]
    yield
    BaseDatabaseOperations.execute_sql_flush = original  # type: ignore[method-assign]


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


def fake_provider_settings(fake: FakeProvider, wire: str) -> dict[str, object]:
    """Settings that send answers to the fake provider, speaking ``wire``
    ("responses": OpenAI's Responses API; "chat_completions": an
    OpenAI-compatible provider such as Gemini)."""
    return {
        "OPENAI_API_KEY": "",
        "GEMINI_API_KEY": "",
        "CHATKIT_PROVIDER": "openai" if wire == "responses" else "openai-compatible",
        "CHATKIT_API_KEY": fake.api_key,
        "CHATKIT_BASE_URL": fake.base_url,
        "CHATKIT_MODEL": "fake-model",
        "CHATKIT_MAX_RETRIES": 0,
        "CHATKIT_REQUEST_TIMEOUT": 5.0,
    }


def fake_provider_env(fake: FakeProvider, wire: str) -> dict[str, str]:
    """The same settings as environment variables, for a live server process."""
    return {name: str(value) for name, value in fake_provider_settings(fake, wire).items()}


@contextlib.contextmanager
def fake_provider_daphne(fake: FakeProvider, **env: str) -> Iterator[LiveDaphne]:
    """A live daphne answering with ``fake`` over the Responses wire, without
    generated titles (a reply says only what the fake's script does), with
    ``env`` on top."""
    settings_env = fake_provider_env(fake, "responses")
    settings_env["CHATKIT_GENERATE_TITLES"] = "false"
    settings_env.update(env)
    with start_daphne(settings_env) as live:
        yield live


@pytest.fixture(params=["responses", "chat_completions"])
def provider(request, settings, fake_provider: FakeProvider) -> FakeProvider:
    """The fake provider, configured as the site's model provider, once per
    wire format. ``provider.wire`` says which one this run uses."""
    for name, value in fake_provider_settings(fake_provider, request.param).items():
        setattr(settings, name, value)
    fake_provider.wire = request.param  # type: ignore[attr-defined]
    return fake_provider


@pytest.fixture
def tasks_chat(provider, settings):
    """The fake provider, with the tasks assistant answering by default."""
    settings.CHATKIT_DEFAULT_ASSISTANT = "tasks"
    return provider


@pytest.fixture
def api(alice):
    """An API client of /chatkit signed in as alice."""
    return ApiClient(alice)


@pytest.fixture
def fresh_channel_layer() -> Iterator[None]:
    """An empty in-memory channel layer before and after the test (groups of
    a test's sockets must not outlive its event loop)."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    async_to_sync(layer.flush)()
    yield
    async_to_sync(layer.flush)()
