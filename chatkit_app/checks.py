"""
System checks (``manage.py check``) for the ChatKit settings.

They run at start-up and in ``check --deploy``, so a misconfigured
deployment says what is wrong before the first request fails. These are
the core's (every setting has its default's type); the model provider's
live in ``responders/checks.py`` and the chat page's in ``ui/checks.py``,
each registered when ``ChatkitAppConfig.ready`` imports it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.checks.security import base as security_checks
from django.core.checks.security import csrf as csrf_checks
from django.test.utils import override_settings

from .conf import DEFAULTS, chatkit_settings
from .middleware import DJANGO_EQUIVALENTS


@register(Tags.compatibility)
def check_setting_types(app_configs: Any, **kwargs: Any) -> list[Error]:
    """Every CHATKIT_* setting has the type of its default."""
    errors = []
    for name, default in DEFAULTS.items():
        value = getattr(chatkit_settings, name)
        expected: type | tuple[type, ...] = type(default)
        if isinstance(default, float):
            expected = (int, float)
        elif isinstance(default, list | tuple):
            expected = (list, tuple)
        if default is not None and not isinstance(value, expected):
            errors.append(
                Error(
                    f"CHATKIT_{name} must be {type(default).__name__}, got {type(value).__name__}.",
                    id="chatkit.E001",
                )
            )
    for name in ("MAX_REQUEST_BYTES", "MAX_BODY_BYTES", "MAX_PAGE_SIZE"):
        value = getattr(chatkit_settings, name)
        if isinstance(value, int) and value <= 0:
            errors.append(Error(f"CHATKIT_{name} must be positive.", id="chatkit.E002"))
    return errors


@register(Tags.compatibility)
def check_database_threads(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    return database_threads_problems(chatkit_settings.DB_THREADS, settings.DATABASES)


def database_threads_problems(count: object, databases: dict[str, Any]) -> list[CheckMessage]:
    """``CHATKIT_DB_THREADS`` (``db.DatabaseThreads``) is 0 or more, and
    no more than a PostgreSQL pool has connections for (each thread holds
    one at a time: more threads than connections only wait for them)."""
    if not isinstance(count, int) or count < 0:
        return [
            Error("CHATKIT_DB_THREADS must be 0 (a thread per request) or more.", id="chatkit.E009")
        ]
    pool = databases.get("default", {}).get("OPTIONS", {}).get("pool")
    max_size = pool.get("max_size") if isinstance(pool, dict) else None
    if isinstance(max_size, int) and count > max_size:
        return [
            Warning(
                f"CHATKIT_DB_THREADS ({count}) is more than the database pool's connections "
                f"({max_size}): the threads beyond them only wait for a connection.",
                hint="Lower CHATKIT_DB_THREADS or raise DATABASE_POOL_MAX_SIZE.",
                id="chatkit.W009",
            )
        ]
    return []


#: Django's deploy checks that see nothing to check unless its middleware is
#: listed under Django's own dotted path (HSTS, nosniff, the SSL redirect,
#: X-Frame-Options, the referrer and opener policies, the CSRF cookie).
_MIDDLEWARE_DEPENDENT_CHECKS = (
    security_checks.check_sts,
    security_checks.check_sts_include_subdomains,
    security_checks.check_sts_preload,
    security_checks.check_content_type_nosniff,
    security_checks.check_ssl_redirect,
    security_checks.check_xframe_deny,
    security_checks.check_referrer_policy,
    security_checks.check_cross_origin_opener_policy,
    csrf_checks.check_csrf_cookie_secure,
)
#: What "missing" meant in Django's own checks security.W001-W003, which
#: settings.py silences because they cannot see ``chatkit_app.middleware``.
_REQUIRED_MIDDLEWARE = {
    "django.middleware.security.SecurityMiddleware": (
        "chatkit.W071",
        "security headers, HSTS and the SSL redirect have no effect",
    ),
    "django.middleware.clickjacking.XFrameOptionsMiddleware": (
        "chatkit.W072",
        "pages are not served with an X-Frame-Options header",
    ),
    "django.middleware.csrf.CsrfViewMiddleware": (
        "chatkit.W073",
        "forms have no CSRF protection",
    ),
}


@register(Tags.security, deploy=True)
def check_deploy_with_async_middleware(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Django's deploy checks of its security, clickjacking and CSRF
    middlewares, run as if ``chatkit_app.middleware``'s subclasses were
    Django's classes (they are, with their hooks on the event loop)."""
    listed = list(settings.MIDDLEWARE)
    canonical = [DJANGO_EQUIVALENTS.get(path, path) for path in listed]
    messages: list[CheckMessage] = [
        Warning(f"{path} (or chatkit_app.middleware's) is not in MIDDLEWARE: {what}.", id=check_id)
        for path, (check_id, what) in _REQUIRED_MIDDLEWARE.items()
        if path not in canonical
    ]
    if canonical != listed:
        with override_settings(MIDDLEWARE=canonical):
            for check in _MIDDLEWARE_DEPENDENT_CHECKS:
                messages.extend(check(app_configs))
    return messages
