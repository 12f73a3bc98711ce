"""Separate frontends (a Vite or Next.js app on another origin) calling the
endpoint: CORS for the origins in CORS_ALLOWED_ORIGINS, bearer tokens."""

from __future__ import annotations

import json

import pytest
from django.test import Client, override_settings

from chatkit_app.tokens import token_create

FRONTEND = "http://localhost:5173"
STRANGER = "https://evil.example"

pytestmark = pytest.mark.django_db


def preflight(origin: str, path: str = "/chatkit"):
    return Client().options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


@override_settings(CORS_ALLOWED_ORIGINS=[FRONTEND])
def test_a_preflight_from_an_allowed_origin_succeeds():
    response = preflight(FRONTEND)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == FRONTEND
    allowed = response["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed
    assert "x-chatkit-locale" in allowed
    assert "POST" in response["Access-Control-Allow-Methods"]


@override_settings(CORS_ALLOWED_ORIGINS=[FRONTEND])
def test_a_preflight_from_another_origin_gets_no_cors_headers():
    response = preflight(STRANGER)
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Headers" not in response


@override_settings(CORS_ALLOWED_ORIGINS=[FRONTEND])
def test_cors_covers_only_the_api_not_the_pages():
    assert "Access-Control-Allow-Origin" not in preflight(FRONTEND, "/accounts/login/")
    assert preflight(FRONTEND, "/health")["Access-Control-Allow-Origin"] == FRONTEND


def test_no_origin_is_allowed_by_default():
    assert "Access-Control-Allow-Origin" not in preflight(FRONTEND)


@override_settings(CORS_ALLOWED_ORIGINS=[FRONTEND])
def test_a_frontend_on_another_origin_chats_with_a_bearer_token(alice):
    _, raw = token_create(user=alice)
    client = Client()
    headers = {"Origin": FRONTEND, "Authorization": f"Bearer {raw}"}
    listed = client.post(
        "/chatkit",
        data=json.dumps({"type": "threads.list", "params": {"limit": 5}}),
        content_type="application/json",
        headers=headers,
    )
    assert listed.status_code == 200
    assert listed["Access-Control-Allow-Origin"] == FRONTEND
    assert listed.json()["data"] == []


@override_settings(CORS_ALLOWED_ORIGINS=[FRONTEND])
def test_a_cross_origin_call_without_a_token_is_refused_with_json(alice):
    response = Client().post(
        "/chatkit",
        data=json.dumps({"type": "threads.list", "params": {}}),
        content_type="application/json",
        headers={"Origin": FRONTEND},
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    # The browser may read the error: the frontend shows it.
    assert response["Access-Control-Allow-Origin"] == FRONTEND
