"""GET /health: 200 with a working database, 503 when it is unreachable."""

from __future__ import annotations

import httpx
import pytest
from django.db import connection

from .live_daphne import start_daphne

pytestmark = pytest.mark.live


def test_health_is_ok_when_the_database_answers(client, db):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert "no-cache" in response["Cache-Control"]


def broken_database(tmp_path) -> dict[str, str]:
    if connection.vendor == "sqlite":
        return {"CHATKIT_TEST_CHILD_DB_NAME": str(tmp_path / "missing-dir" / "db.sqlite3")}
    return {"CHATKIT_TEST_CHILD_DB_NAME": "no_such_database", "DATABASE_POOL_TIMEOUT": "1"}


def test_health_is_503_when_the_database_is_unreachable(django_db_setup, tmp_path):
    with start_daphne(broken_database(tmp_path)) as server:
        response = httpx.get(f"{server.url}/health", timeout=30)
        chat = httpx.post(
            f"{server.url}/chatkit",
            content=b'{"type": "threads.list", "params": {}}',
            headers={"Authorization": "Bearer ck_whatever"},
            timeout=30,
        )
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unavailable"}
    # The endpoint answers in its own JSON, retryable, not with an error page.
    assert chat.status_code == 503
    assert chat.json()["error"]["code"] == "database_unavailable"
    assert chat.headers["Retry-After"] == "5"
