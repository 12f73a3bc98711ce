"""``manage.py check`` says what is wrong with the ChatKit configuration."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError


def check() -> None:
    call_command("check")


def test_production_without_a_model_key_is_an_error_naming_the_variables(settings):
    settings.DEBUG = False
    settings.OPENAI_API_KEY = settings.GEMINI_API_KEY = ""
    with pytest.raises(SystemCheckError) as failure:
        check()
    assert "chatkit.E004" in str(failure.value)
    assert "OPENAI_API_KEY" in str(failure.value)
    assert "GEMINI_API_KEY" in str(failure.value)


def test_development_without_a_key_is_fine(settings):
    settings.DEBUG = True
    settings.OPENAI_API_KEY = settings.GEMINI_API_KEY = ""
    check()


def test_running_offline_on_purpose_is_fine(settings):
    settings.DEBUG = False
    settings.OPENAI_API_KEY = settings.GEMINI_API_KEY = ""
    settings.CHATKIT_PROVIDER = "offline"
    check()


def test_a_key_satisfies_the_check(settings):
    settings.DEBUG = False
    settings.GEMINI_API_KEY = "gm-key"
    check()


def test_an_unknown_provider_is_an_error(settings):
    settings.CHATKIT_PROVIDER = "skynet"
    with pytest.raises(SystemCheckError, match="CHATKIT_PROVIDER must be one of"):
        check()


def test_a_compatible_provider_needs_a_base_url_and_a_key(settings):
    settings.CHATKIT_PROVIDER = "openai-compatible"
    settings.OPENAI_API_KEY = settings.CHATKIT_API_KEY = ""
    with pytest.raises(SystemCheckError) as failure:
        check()
    assert "chatkit.E005" in str(failure.value)
    assert "CHATKIT_BASE_URL is not set" in str(failure.value)


def test_a_missing_prompt_file_is_an_error(settings):
    settings.DEBUG = True
    settings.CHATKIT_SYSTEM_PROMPT_FILE = "prompts/nope.md"
    with pytest.raises(SystemCheckError, match="does not exist"):
        check()


def test_a_setting_of_the_wrong_type_is_an_error(settings):
    settings.DEBUG = True
    settings.CHATKIT_HISTORY_ITEMS = "thirty"
    with pytest.raises(SystemCheckError, match="CHATKIT_HISTORY_ITEMS must be int"):
        check()


def test_environment_variables_are_parsed_by_the_defaults_type():
    from chatkit_app.conf import from_environment

    parsed = from_environment(
        {
            "CHATKIT_HISTORY_ITEMS": "12",
            "CHATKIT_REQUEST_TIMEOUT": "2.5",
            "CHATKIT_MODELS": "a, b",
            "CHATKIT_TRACING": "yes",
            "CHATKIT_SYSTEM_PROMPT": "Be brief.",
            "UNRELATED": "x",
        }
    )
    assert parsed == {
        "CHATKIT_HISTORY_ITEMS": 12,
        "CHATKIT_REQUEST_TIMEOUT": 2.5,
        "CHATKIT_MODELS": ["a", "b"],
        "CHATKIT_TRACING": True,
        "CHATKIT_SYSTEM_PROMPT": "Be brief.",
    }


# --- Django's deploy checks and the async middleware subclasses -----------------


def deploy_ids(settings) -> set[str]:
    from chatkit_app.checks import check_deploy_with_async_middleware

    return {message.id for message in check_deploy_with_async_middleware(None)}


def test_deploy_checks_still_see_hsts_behind_the_async_security_middleware(settings):
    # Django's own check_sts sees no SecurityMiddleware (another dotted path)
    # and would pass; run as if it were Django's, it warns as it should.
    settings.SECURE_HSTS_SECONDS = 0
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    assert "chatkit_app.middleware.SecurityMiddleware" in settings.MIDDLEWARE
    assert "security.W004" in deploy_ids(settings)
    settings.SECURE_HSTS_SECONDS = 3600
    assert "security.W004" not in deploy_ids(settings)


def test_a_missing_security_middleware_is_still_reported(settings):
    settings.MIDDLEWARE = [
        path
        for path in settings.MIDDLEWARE
        if not path.endswith(("SecurityMiddleware", "CsrfViewMiddleware"))
    ]
    assert {"chatkit.W071", "chatkit.W073"} <= deploy_ids(settings)
    assert "chatkit.W072" not in deploy_ids(settings)


def test_with_djangos_own_classes_the_check_adds_nothing(settings):
    from chatkit_app.middleware import DJANGO_EQUIVALENTS

    settings.SECURE_HSTS_SECONDS = 0
    settings.MIDDLEWARE = [DJANGO_EQUIVALENTS.get(path, path) for path in settings.MIDDLEWARE]
    # Django's own checks report it; a second report would be noise.
    assert deploy_ids(settings) == set()


def test_a_negative_number_of_database_threads_is_an_error(settings):
    settings.CHATKIT_DB_THREADS = -1
    with pytest.raises(SystemCheckError) as failure:
        check()
    assert "chatkit.E009" in str(failure.value)


def test_more_database_threads_than_pooled_connections_is_a_warning():
    from chatkit_app.checks import database_threads_problems

    pooled = {"default": {"OPTIONS": {"pool": {"max_size": 3}}}}
    assert [m.id for m in database_threads_problems(4, pooled)] == ["chatkit.W009"]
    assert database_threads_problems(3, pooled) == []
    assert database_threads_problems(8, {"default": {"OPTIONS": {}}}) == []  # SQLite: no pool
