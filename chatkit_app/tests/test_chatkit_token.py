"""``manage.py chatkit_token``: the one place bearer tokens are made and revoked."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from chatkit_app.models import ApiToken
from chatkit_app.tokens import token_authenticate, token_digest

from .chatkit_client import post_chatkit

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("chatkit_token", *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def test_it_prints_a_new_token_that_authenticates(alice):
    raw = run("alice", "--name", "ci")
    assert raw.startswith("ck_")
    response = post_chatkit(
        {"type": "threads.list", "params": {}}, HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert response.status_code == 200


def test_it_stores_only_a_hash(alice):
    raw = run("alice")
    token = ApiToken.objects.get()
    assert token.digest == token_digest(raw)
    assert raw not in (token.digest, token.prefix, token.name)
    assert raw.startswith(token.prefix)


def test_each_call_makes_a_different_token(alice):
    assert run("alice") != run("alice")
    assert ApiToken.objects.count() == 2


def test_revoke_disables_all_the_users_tokens(alice, bob):
    alices = [run("alice"), run("alice")]
    bobs = run("bob")
    assert run("alice", "--revoke") == "Revoked 2 token(s) of alice."
    assert all(token_authenticate(raw) is None for raw in alices)
    assert token_authenticate(bobs).user == bob
    assert run("alice", "--revoke") == "Revoked 0 token(s) of alice."


def test_revoke_with_a_prefix_disables_only_that_token(alice):
    keep, drop = run("alice"), run("alice")
    run("alice", "--revoke", "--prefix", drop[:12])
    assert token_authenticate(drop) is None
    assert token_authenticate(keep) is not None


def test_list_shows_prefixes_and_state_never_the_token(alice):
    raw = run("alice", "--name", "laptop")
    run("alice", "--revoke")
    listing = run("alice", "--list")
    assert raw not in listing
    assert raw[:9] in listing
    assert "revoked" in listing
    assert "laptop" in listing


def test_an_unknown_user_is_an_error(db):
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        run("nobody")


def test_a_short_prefix_is_refused(alice):
    run("alice")
    with pytest.raises(CommandError, match="first 9 characters"):
        run("alice", "--revoke", "--prefix", "ck_")


def test_using_a_token_records_when_it_was_last_used(alice):
    raw = run("alice")
    assert ApiToken.objects.get().last_used_at is None
    post_chatkit({"type": "threads.list", "params": {}}, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert ApiToken.objects.get().last_used_at is not None
