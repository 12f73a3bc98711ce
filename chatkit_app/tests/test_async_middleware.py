"""
Every configured middleware runs on the event loop under ASGI.

One sync-only middleware (WhiteNoise's was) makes Django wrap the rest of the
chain, the async ``/chatkit`` view included, in ``async_to_sync``: every
request then runs in a thread, and streams compete for it. These tests build
the chain exactly as the ASGI handler does and fail if Django had to adapt
any middleware to the other mode.

Async-capable is not enough: Django's ``MiddlewareMixin`` still runs each
hook through ``sync_to_async``. The tests at the end count the hooks that
went to a thread (every ``SyncToAsync`` call made while a request runs) and
check that what a user sees is unchanged: sessions saved, messages shown,
CSRF refusals.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import pytest
from asgiref.sync import SyncToAsync, async_to_sync
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.handlers.asgi import ASGIHandler
from django.test import AsyncClient, override_settings
from django.utils.module_loading import import_string

from chatkit_app.tokens import token_create
from tasks.models import Task

from .chatkit_client import CSRF_SECRET
from .conftest import PASSWORD


class AdaptationRecordingHandler(ASGIHandler):
    """The ASGI handler, recording each middleware Django had to adapt."""

    def __init__(self) -> None:
        self.adapted: list[str] = []
        super().__init__()  # loads the middleware, in async mode

    def adapt_method_mode(self, is_async, method, method_is_async=None, debug=False, name=None):
        adapted = super().adapt_method_mode(is_async, method, method_is_async, debug, name)
        if adapted is not method and (name or "").startswith("middleware "):
            self.adapted.append(name.removeprefix("middleware "))
        return adapted


@pytest.mark.parametrize("path", settings.MIDDLEWARE)
def test_each_configured_middleware_declares_it_can_run_async(path):
    middleware = import_string(path)
    assert getattr(middleware, "async_capable", False), f"{path} is sync-only"


def test_the_asgi_handler_adapts_no_middleware():
    handler = AdaptationRecordingHandler()
    assert handler.adapted == []
    assert not isinstance(handler._middleware_chain, SyncToAsync)


def test_a_sync_only_middleware_would_be_noticed():
    # What WhiteNoise did: without this, the test above could pass vacuously.
    sync_only = "chatkit_app.tests.test_async_middleware.SyncOnlyMiddleware"
    with override_settings(MIDDLEWARE=[*settings.MIDDLEWARE, sync_only]):
        handler = AdaptationRecordingHandler()
    # The innermost is adapted first; everything around it then runs in a thread.
    assert handler.adapted[0] == sync_only


class SyncOnlyMiddleware:
    sync_capable = True
    async_capable = False

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)


async def test_static_files_are_served_by_the_async_chain(db):
    response = await AsyncClient().get("/static/chatkit/boot.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    body = b"".join([chunk async for chunk in response.streaming_content])
    assert b"import" in body


# --- which hooks go to a thread -----------------------------------------------

# What settings.MIDDLEWARE held before chatkit_app.middleware: the control.
DJANGO_MIDDLEWARE = {
    "chatkit_app.middleware.SecurityMiddleware": "django.middleware.security.SecurityMiddleware",
    "chatkit_app.middleware.SessionMiddleware": (
        "django.contrib.sessions.middleware.SessionMiddleware"
    ),
    "chatkit_app.middleware.CommonMiddleware": "django.middleware.common.CommonMiddleware",
    "chatkit_app.middleware.CsrfViewMiddleware": "django.middleware.csrf.CsrfViewMiddleware",
    "chatkit_app.middleware.AuthenticationMiddleware": (
        "django.contrib.auth.middleware.AuthenticationMiddleware"
    ),
    "chatkit_app.middleware.MessageMiddleware": (
        "django.contrib.messages.middleware.MessageMiddleware"
    ),
    "chatkit_app.middleware.XFrameOptionsMiddleware": (
        "django.middleware.clickjacking.XFrameOptionsMiddleware"
    ),
}


def hop_name(func: Callable[..., Any]) -> str:
    return getattr(func, "__qualname__", None) or type(func).__qualname__


@contextmanager
def recorded_hops() -> Iterator[list[str]]:
    """The callables sent to a thread by ``sync_to_async`` meanwhile, by name."""
    hops: list[str] = []
    original = SyncToAsync.__call__

    async def recording(self, *args, **kwargs):
        hops.append(hop_name(self.func))
        return await original(self, *args, **kwargs)

    SyncToAsync.__call__ = recording  # type: ignore[method-assign]
    try:
        yield hops
    finally:
        SyncToAsync.__call__ = original  # type: ignore[method-assign]


def middleware_hops(hops: list[str]) -> list[str]:
    """The hops of middleware hooks (the view's own ORM calls are not counted)."""
    return [name for name in hops if re.search(r"Middleware\b", name)]


def through_the_async_chain(steps: Callable[[AsyncClient], Any]) -> Any:
    """Run ``steps(client)`` with an ASGI-mode client enforcing CSRF, on this
    thread's event loop: thread-sensitive ORM work stays inside the test's
    transaction."""

    async def run() -> Any:
        return await steps(AsyncClient(enforce_csrf_checks=True))

    return async_to_sync(run)()


async def body_of(response) -> bytes:
    if response.streaming:
        return b"".join([chunk async for chunk in response.streaming_content])
    return response.content


def test_a_bearer_token_request_to_chatkit_runs_no_middleware_hook_in_a_thread(alice):
    _, raw = token_create(user=alice)

    async def list_threads(client: AsyncClient):
        response = await client.post(
            "/chatkit",
            data={"type": "threads.list", "params": {"limit": 5}},
            content_type="application/json",
            headers={"Authorization": f"Bearer {raw}"},
        )
        return response, await body_of(response)

    with recorded_hops() as hops:
        response, body = through_the_async_chain(list_threads)
    assert response.status_code == 200, body
    assert b'"data"' in body
    assert response["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware ran
    assert middleware_hops(hops) == [], hops
    assert hops, "the view's token lookup must still go to a thread"


async def get_chat_page(client: AsyncClient, user) -> tuple[Any, bytes]:
    await client.aforce_login(user)
    response = await client.get("/")
    return response, await body_of(response)


def test_a_signed_in_page_get_runs_no_middleware_hook_in_a_thread(alice):
    with recorded_hops() as hops:
        response, html = through_the_async_chain(lambda client: get_chat_page(client, alice))
    assert response.status_code == 200
    assert b"csrfmiddlewaretoken" in html or b"csrf" in html.lower()
    # Every header the chain adds is still there.
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "Content-Security-Policy" in response
    assert "Cookie" in response["Vary"]
    assert middleware_hops(hops) == [], hops


def test_djangos_own_middlewares_would_be_seen_hopping_to_a_thread(alice):
    # The control: the same page with Django's classes, so the test above
    # cannot pass because the recorder sees nothing.
    django_chain = [DJANGO_MIDDLEWARE.get(path, path) for path in settings.MIDDLEWARE]
    with override_settings(MIDDLEWARE=django_chain), recorded_hops() as hops:
        response, _ = through_the_async_chain(lambda client: get_chat_page(client, alice))
    assert response.status_code == 200
    hopped = middleware_hops(hops)
    for hook in (
        "SecurityMiddleware.process_request",
        "SessionMiddleware.process_response",
        "CsrfViewMiddleware.process_view",
        "XFrameOptionsMiddleware.process_response",
    ):
        assert hook in hopped, hopped


def test_signing_in_saves_the_session_and_only_the_save_goes_to_a_thread(alice):
    async def sign_in_then_open_the_page(client: AsyncClient):
        form = await client.get("/accounts/login/")
        token = form.cookies["csrftoken"].value
        with recorded_hops() as hops:
            # As a browser sends the form (a multipart body would be parsed
            # in a thread: uploaded files can spill to disk).
            signed_in = await client.post(
                "/accounts/login/",
                urlencode(
                    {"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": token}
                ),
                content_type="application/x-www-form-urlencoded",
            )
        page = await client.get("/")
        return signed_in, hops, page

    signed_in, hops, page = through_the_async_chain(sign_in_then_open_the_page)
    assert signed_in.status_code == 302, signed_in.content
    session_key = signed_in.cookies[settings.SESSION_COOKIE_NAME].value
    session = Session.objects.get(session_key=session_key)
    assert session.get_decoded()["_auth_user_id"] == str(alice.pk)
    assert page.status_code == 200  # signed in, not sent back to the form
    assert middleware_hops(hops) == ["SessionMiddleware.process_response"], hops


@pytest.mark.parametrize(
    ("storage", "hopped"),
    [
        # The default: messages ride in a cookie; nothing goes to a thread.
        ("django.contrib.messages.storage.fallback.FallbackStorage", [[], [], []]),
        # In the session: each request that changes the list saves the session.
        (
            "django.contrib.messages.storage.session.SessionStorage",
            [["SessionMiddleware.process_response"]] * 2 + [[]],
        ),
    ],
)
def test_a_message_added_by_a_form_post_is_shown_once(alice, storage, hopped):
    async def add_a_task_and_look_twice(client: AsyncClient):
        await client.aforce_login(alice)
        client.cookies["csrftoken"] = CSRF_SECRET
        form = urlencode(
            {"title": "Buy bread", "priority": "high", "csrfmiddlewaretoken": CSRF_SECRET}
        )
        responses, hops = [], []
        for send in (
            lambda: client.post(
                "/tasks/",
                form,
                content_type="application/x-www-form-urlencoded",
            ),
            lambda: client.get("/tasks/"),
            lambda: client.get("/tasks/"),
        ):
            with recorded_hops() as these:
                responses.append(await send())
            hops.append(middleware_hops(these))
        return responses, hops

    with override_settings(MESSAGE_STORAGE=storage):
        (added, first, second), hops = through_the_async_chain(add_a_task_and_look_twice)
    assert added.status_code == 302, added.content
    assert Task.objects.filter(owner=alice, title="Buy bread").exists()
    assert "Task added." in first.content.decode()
    assert "Task added." not in second.content.decode()
    assert hops == hopped


@pytest.mark.parametrize(
    ("path", "data", "content_type", "hopped"),
    [
        # The check runs inline; only the failure page is rendered in a thread.
        (
            "/tasks/",
            "title=Forged&priority=high",
            "application/x-www-form-urlencoded",
            ["CsrfViewMiddleware._reject"],
        ),
        ("/admin/logout/", "", "application/x-www-form-urlencoded", ["CsrfViewMiddleware._reject"]),
        # A multipart body is parsed in a thread (files can spill to disk).
        (
            "/tasks/",
            "--b\r\n\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
            ["CsrfViewMiddleware.process_view"],
        ),
    ],
)
def test_a_session_post_without_a_csrf_token_is_refused(charlie, path, data, content_type, hopped):
    async def forge(client: AsyncClient):
        await client.aforce_login(charlie)
        client.cookies["csrftoken"] = CSRF_SECRET
        with recorded_hops() as hops:
            response = await client.post(path, data=data, content_type=content_type)
        return response, hops

    response, hops = through_the_async_chain(forge)
    assert response.status_code == 403
    assert b"This form has expired" in response.content  # the site's CSRF page
    assert not Task.objects.filter(title="Forged").exists()
    assert middleware_hops(hops) == hopped, hops


def test_a_session_post_to_chatkit_without_a_csrf_token_is_refused(alice):
    async def forge(client: AsyncClient):
        await client.aforce_login(alice)
        client.cookies["csrftoken"] = CSRF_SECRET
        return await client.post(
            "/chatkit",
            data={"type": "threads.list", "params": {}},
            content_type="application/json",
        )

    response = through_the_async_chain(forge)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
