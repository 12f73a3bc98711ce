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


def test_health_is_503_when_the_database_is_unreachable(django_db_setup, tmp_path):
    if connection.vendor == "sqlite":
        broken = {"CHATKIT_TEST_CHILD_DB_NAME": str(tmp_path / "missing-dir" / "db.sqlite3")}
    else:
        broken = {"CHATKIT_TEST_CHILD_DB_NAME": "no_such_database", "DATABASE_POOL_TIMEOUT": "1"}
    with start_daphne(broken) as server:
        response = httpx.get(f"{server.url}/health", timeout=30)
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unavailable"}
