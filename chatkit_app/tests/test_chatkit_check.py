"""``manage.py chatkit_check``: database, settings and model provider, or a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from .conftest import fake_provider_settings
from .live_daphne import BASE_DIR, child_environment, free_port

pytestmark = pytest.mark.django_db


def check(*args: str) -> tuple[str, str]:
    """Run the command; returns (stdout, stderr), or raises CommandError with
    ``.stdout`` / ``.stderr`` attached."""
    out, err = StringIO(), StringIO()
    try:
        call_command("chatkit_check", *args, stdout=out, stderr=err)
    except CommandError as error:
        error.stdout, error.stderr = out.getvalue(), err.getvalue()  # type: ignore[attr-defined]
        raise
    return out.getvalue(), err.getvalue()


def problems(*args: str) -> list[str]:
    with pytest.raises(CommandError, match=r"problem\(s\)") as caught:
        check(*args)
    return caught.value.stderr.splitlines()  # type: ignore[attr-defined]


@pytest.fixture
def offline(settings):
    """Development settings, no provider key: the offline responder."""
    settings.DEBUG = True
    for name in ("OPENAI_API_KEY", "GEMINI_API_KEY", "CHATKIT_API_KEY", "CHATKIT_PROVIDER"):
        setattr(settings, name, "")


@pytest.fixture(params=["responses", "chat_completions"])
def configured(request, settings, fake_provider):
    """Production-like settings with the fake provider as the model provider."""
    settings.DEBUG = False
    for name, value in fake_provider_settings(fake_provider, request.param).items():
        setattr(settings, name, value)
    return fake_provider


def test_it_passes_with_the_offline_provider_and_says_so(offline):
    out, err = check()
    lines = out.splitlines()
    assert lines[0].startswith(f"ok       database: {connection.display_name}")
    assert "ok       migrations: all applied" in lines
    assert "ok       settings: development (DEBUG on)" in lines
    assert "warning  settings: DEBUG is on: fine for development, never in production" in lines
    assert any(
        line.startswith("ok       provider: offline development responder") for line in lines
    )
    assert err == ""


def test_a_good_key_passes_by_listing_the_providers_models(configured):
    out, _ = check()
    provider_line = next(line for line in out.splitlines() if "provider:" in line)
    assert provider_line.startswith("ok       provider:")
    assert "key sk-…-key accepted, 1 models listed" in provider_line
    assert configured.requests[-1].path.rstrip("/") == "/v1/models"


def test_a_rejected_key_fails(configured, settings):
    settings.CHATKIT_API_KEY = "sk-revoked-key-0000"
    assert problems() == [
        f"PROBLEM  provider: the key sk-…0000 was rejected (401) by {configured.base_url}/"
    ]


def test_an_unreachable_provider_fails(configured, settings):
    settings.CHATKIT_BASE_URL = f"http://127.0.0.1:{free_port()}/v1"
    [line] = problems()
    assert line.startswith("PROBLEM  provider: cannot reach http://127.0.0.1:")
    assert "refused" in line.lower()


def test_skip_provider_checks_configuration_without_calling_it(configured, settings):
    settings.CHATKIT_BASE_URL = f"http://127.0.0.1:{free_port()}/v1"
    out, _ = check("--skip-provider")
    assert "(not called: --skip-provider)" in out


def test_a_provider_without_a_key_fails(offline, settings):
    settings.CHATKIT_PROVIDER = "openai"
    # (The system checks say so too, under settings.)
    assert (
        "PROBLEM  provider: openai at api.openai.com, model gpt-4.1-mini: no API key configured"
        in problems("--skip-provider")
    )


def test_an_unknown_provider_fails(offline, settings):
    settings.CHATKIT_PROVIDER = "skynet"
    assert any(
        line.startswith("PROBLEM  provider: CHATKIT_PROVIDER must be one of") for line in problems()
    )


def test_weak_production_settings_fail_each_on_its_own_line(configured, settings):
    settings.SECRET_KEY = "changeme"
    settings.ALLOWED_HOSTS = ["*"]

    lines = problems("--skip-provider")

    assert "PROBLEM  settings: ALLOWED_HOSTS contains '*': name the site's host names" in lines
    assert any(line.startswith("PROBLEM  settings: SECRET_KEY is short") for line in lines)


def test_unapplied_migrations_fail(offline):
    # The app's latest migration: an earlier one left out behind an applied
    # one is no plan Django would make.
    [(_, latest)] = [
        node for node in MigrationLoader(connection).graph.leaf_nodes() if node[0] == "chatkit_app"
    ]
    MigrationRecorder(connection).record_unapplied("chatkit_app", latest)
    [line] = problems()
    assert line == (
        "PROBLEM  migrations: 1 migration(s) not applied: "
        f"chatkit_app.{latest}; run `manage.py migrate`"
    )


def test_the_process_exits_non_zero_on_a_problem(db):
    """What a start-up script or a monitor sees: the exit status."""
    env = child_environment(
        {
            "DEBUG": "true",
            "CHATKIT_PROVIDER": "openai-compatible",
            "CHATKIT_API_KEY": "sk-test-key-1234",
            "CHATKIT_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        }
    )
    failed = subprocess.run(
        [sys.executable, "manage.py", "chatkit_check"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == 1
    assert "PROBLEM  provider: cannot reach" in failed.stderr
    # Everything else was fine: one problem, one line.
    assert failed.stderr.count("PROBLEM") == 1
