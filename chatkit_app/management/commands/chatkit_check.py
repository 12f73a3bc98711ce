"""``manage.py chatkit_check``: is this deployment able to answer? Exits non-zero if not."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import openai
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

from chatkit_app.responders.providers import Provider, current_provider

# Seconds to wait for the provider: a check should answer quickly even when
# the configured request timeout is a minute.
PROVIDER_TIMEOUT = 10.0


class Problem(Exception):
    """A check that failed: the deployment cannot work like this."""


class Command(BaseCommand):
    help = (
        "Check the database (reachable, migrations applied), the settings (Django's system "
        "checks, with the deployment ones when DEBUG is off, plus SECRET_KEY and "
        "ALLOWED_HOSTS), and the model provider (configured, and reachable with its key: "
        "lists its models). Prints one line per check; exits non-zero if any failed, each "
        "problem on its own line. For start-up scripts and monitoring."
    )
    # This command reports system check errors itself instead of refusing to run.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--skip-provider",
            action="store_true",
            help="Check the provider's configuration but do not call it (no network).",
        )

    def handle(self, *args: Any, skip_provider: bool, **options: Any) -> None:
        results: list[tuple[str, Callable[[], str]]] = [
            ("database", check_database),
            ("migrations", check_migrations),
            ("settings", lambda: check_settings(self.warn)),
            ("provider", lambda: check_provider(reach=not skip_provider, warn=self.warn)),
            ("replies", check_replies),
        ]
        problems = []
        for name, check in results:
            try:
                self.stdout.write(f"ok       {name}: {check()}")
            except Problem as problem:
                for line in str(problem).splitlines():
                    problems.append(f"{name}: {line}")
                    self.stderr.write(f"PROBLEM  {name}: {line}")
        if problems:
            raise CommandError(f"{len(problems)} problem(s); see above.")

    def warn(self, name: str, message: str) -> None:
        self.stdout.write(f"warning  {name}: {message}")


def check_database() -> str:
    connection = connections[DEFAULT_DB_ALIAS]
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        raise Problem(f"cannot query {connection.vendor} database: {error}".strip()) from None
    elapsed = (time.perf_counter() - started) * 1000
    version = ".".join(str(part) for part in connection.get_database_version())
    return f"{connection.display_name} {version} answered in {elapsed:.0f} ms"


def check_replies() -> str:
    """Replies left running by a server process that died are marked
    interrupted (chatkit_app/runs/), so no thread shows one pending for good."""
    from chatkit_app.models import ReplyRun
    from chatkit_app.runs.services import runs_recover

    try:
        recovered = runs_recover()
        running = ReplyRun.objects.filter(status=ReplyRun.Status.RUNNING).count()
    except DatabaseError as error:
        raise Problem(f"cannot read the running replies: {error}") from None
    found = f"; marked {recovered} of a stopped process interrupted" if recovered else ""
    return f"{running} being written{found}"


def check_migrations() -> str:
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as error:
        raise Problem(f"cannot read the migration history: {error}") from None
    if plan:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in plan[:5])
        more = f" and {len(plan) - 5} more" if len(plan) > 5 else ""
        raise Problem(
            f"{len(plan)} migration(s) not applied: {names}{more}; run `manage.py migrate`"
        )
    return "all applied"


def check_settings(warn: Callable[[str, str], None]) -> str:
    problems = []
    production = not settings.DEBUG
    for message in checks.run_checks(include_deployment_checks=production):
        if message.is_silenced():
            continue
        text = f"{message.msg} ({message.id})"
        if message.level >= checks.ERROR:
            problems.append(text)
        else:
            warn("settings", text)
    if production:
        key = settings.SECRET_KEY
        if len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure"):
            problems.append(
                "SECRET_KEY is short or a known default: set a long random value "
                "(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
            )
        if not settings.ALLOWED_HOSTS:
            problems.append("ALLOWED_HOSTS is empty: every request would be refused")
        elif "*" in settings.ALLOWED_HOSTS:
            problems.append("ALLOWED_HOSTS contains '*': name the site's host names")
    else:
        warn("settings", "DEBUG is on: fine for development, never in production")
    if problems:
        raise Problem("\n".join(problems))
    return "production" if production else "development (DEBUG on)"


def check_provider(*, reach: bool, warn: Callable[[str, str], None]) -> str:
    try:
        provider = current_provider()
    except ImproperlyConfigured as error:
        raise Problem(str(error)) from None
    if provider.offline:
        return (
            "offline development responder (no model key configured): nothing to reach; "
            "set OPENAI_API_KEY, GEMINI_API_KEY or CHATKIT_API_KEY for real answers"
        )
    where = provider.base_url or "api.openai.com"
    described = f"{provider.name} at {where}, model {provider.model}"
    if not provider.api_key:
        raise Problem(f"{described}: no API key configured")
    if not reach:
        return f"{described}, key {masked(provider.api_key)} (not called: --skip-provider)"
    models = list_models(provider)
    # Gemini lists "models/gemini-2.5-flash"; others list the bare name.
    names = {name.rsplit("/", 1)[-1] for name in models}
    if models and provider.model not in names:
        warn("provider", f"model {provider.model!r} is not among the {len(models)} listed")
    return f"{described}: key {masked(provider.api_key)} accepted, {len(models)} models listed"


def list_models(provider: Provider) -> list[str]:
    """The provider's model ids, fetched with the configured key (the call
    every OpenAI-compatible API answers, and cheap: no tokens spent)."""
    client = openai.OpenAI(
        api_key=provider.api_key,
        base_url=provider.base_url,
        timeout=min(provider.timeout, PROVIDER_TIMEOUT),
        max_retries=0,
    )
    try:
        return [model.id for model in client.models.list().data]
    except openai.AuthenticationError:
        raise Problem(
            f"the key {masked(provider.api_key)} was rejected (401) by {client.base_url}"
        ) from None
    except openai.PermissionDeniedError as error:
        raise Problem(f"the key may not list models (403): {error.message}") from None
    except openai.APITimeoutError:
        raise Problem(f"{client.base_url} did not answer within {client.timeout} s") from None
    except openai.APIConnectionError as error:
        cause = error.__cause__ or error
        raise Problem(f"cannot reach {client.base_url}: {cause}") from None
    except openai.APIStatusError as error:
        raise Problem(
            f"{client.base_url} answered HTTP {error.status_code}: {error.message}"
        ) from None
    finally:
        client.close()


def masked(key: str) -> str:
    return f"{key[:3]}…{key[-4:]}" if len(key) > 12 else "…"
