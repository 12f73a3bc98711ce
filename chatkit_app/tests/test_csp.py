"""The Content-Security-Policy header: on every HTML page, strict for scripts,
with the official component's origin only while it is configured; never on
/chatkit's JSON and streams; the deployer's own additions and report-only mode
from the environment (real server processes); and a middleware that runs on
the event loop. What browsers make of it: test_browser_csp.py."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

import httpx
from django.http import HttpRequest, HttpResponse
from django.test import AsyncRequestFactory, Client

from chatkit_app.csp import CSPMiddleware

from .live_daphne import BASE_DIR, child_environment, start_daphne

CDN = "https://cdn.platform.openai.com"


def policy(header: str) -> dict[str, list[str]]:
    """``{"script-src": ["'self'", ...], ...}`` from a header value."""
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def page_policy(client: Client, path: str = "/accounts/login/", **extra) -> dict[str, list[str]]:
    response = client.get(path, **extra)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    return policy(response["Content-Security-Policy"])


def test_html_pages_carry_a_policy_that_runs_no_inline_script(db):
    directives = page_policy(Client())
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"][0] == "'self'"
    for directive, sources in directives.items():
        assert "'unsafe-eval'" not in sources, directive
        if directive.startswith("script-src"):
            assert "'unsafe-inline'" not in sources
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    # No nonce on a page that has no inline script to give one to.
    assert not any(source.startswith("'nonce-") for source in directives["script-src"])


def test_every_page_kind_has_it(alice, charlie):
    client = Client()
    client.force_login(alice)
    for path in ("/", "/demo/?layout=modal", "/tasks/"):
        assert "script-src" in page_policy(client, path)
    staff = Client()
    staff.force_login(charlie)
    for path in ("/admin/", "/admin/chatkit_app/conversation/", "/admin/axes/accessattempt/"):
        assert "script-src" in page_policy(staff, path)
    missing = Client().get("/no/such/page/")
    assert missing.status_code == 404
    assert "Content-Security-Policy" in missing


def test_the_official_components_origin_is_allowed_while_it_is_configured(db):
    directives = page_policy(Client())
    for directive in ("script-src", "frame-src", "connect-src", "img-src", "style-src", "font-src"):
        assert CDN in directives[directive], directive
    assert "'unsafe-inline'" in directives["style-src"]


def test_another_component_origin_replaces_openais(db, settings):
    settings.CHATKIT_UI = {"script_url": "https://chatkit.example.net/v2/chatkit.js"}
    directives = page_policy(Client())
    assert "https://chatkit.example.net" in directives["script-src"]
    assert "https://chatkit.example.net" in directives["frame-src"]
    assert not any("openai.com" in source for sources in directives.values() for source in sources)


def test_the_built_in_client_alone_allows_no_third_party_origin_and_no_inline_style(db, settings):
    settings.CHATKIT_UI = {"script_url": ""}
    response = Client().get("/accounts/login/")
    header = response["Content-Security-Policy"]
    assert "openai" not in header
    directives = policy(header)
    assert directives["style-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["img-src"] == ["'self'", "data:", "blob:"]


def test_a_chat_api_on_another_host_may_be_connected_to(db, settings):
    settings.CHATKIT_UI = {"api_url": "https://api.example.net/chatkit"}
    assert "https://api.example.net" in page_policy(Client())["connect-src"]


def test_websockets_to_the_pages_own_host_are_allowed(db):
    assert "ws://testserver" in page_policy(Client())["connect-src"]
    assert "wss://testserver" in page_policy(Client(), secure=True)["connect-src"]


def test_json_and_event_streams_get_no_policy(alice):
    anonymous = Client().post("/chatkit", "{}", content_type="application/json")
    assert anonymous.status_code == 401
    assert "Content-Security-Policy" not in anonymous
    assert "Content-Security-Policy" not in Client().get("/health")


def test_a_template_with_an_inline_script_gets_a_nonce_for_scripts_only(rf):
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse(f'<script nonce="{request.csp_nonce}">go()</script>')

    response = CSPMiddleware(view)(rf.get("/"))
    directives = policy(response["Content-Security-Policy"])
    nonce = response.content.decode().split('"')[1]
    assert f"'nonce-{nonce}'" in directives["script-src"]
    assert not any(source.startswith("'nonce-") for source in directives["style-src"])


async def test_the_middleware_runs_on_the_event_loop_without_a_thread_hop():
    """Django's MiddlewareMixin would send each hook to the sync thread."""
    threads: list[int] = []

    class Recording(CSPMiddleware):
        def process_response(self, request, response):
            threads.append(threading.get_ident())
            return super().process_response(request, response)

    async def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("<p>page</p>")

    middleware = Recording(view)
    assert asyncio.iscoroutinefunction(middleware)
    response = await middleware(AsyncRequestFactory().get("/"))
    assert "Content-Security-Policy" in response
    assert threads == [threading.get_ident()]


def test_a_deployer_adds_sources_and_a_report_address_or_only_reports(db):
    env = {
        "CSP_EXTRA_SOURCES": '{"script-src": ["https://stats.example.org"],'
        ' "connect-src": ["https://stats.example.org"]}',
        "CSP_REPORT_URI": "https://reports.example.org/csp",
        "CSP_REPORT_ONLY": "true",
    }
    with start_daphne(env) as server:
        response = httpx.get(f"{server.url}/accounts/login/")
    assert response.status_code == 200
    assert "content-security-policy" not in response.headers
    directives = policy(response.headers["content-security-policy-report-only"])
    assert "https://stats.example.org" in directives["script-src"]
    assert "https://stats.example.org" in directives["connect-src"]
    assert directives["report-uri"] == ["https://reports.example.org/csp"]
    assert CDN in directives["script-src"]  # the page's own sources still come along


def test_a_malformed_extra_sources_setting_stops_the_process_with_a_clear_message(db):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=BASE_DIR,
        env=child_environment({"CSP_EXTRA_SOURCES": '{"img-src": "https://x.example"}'}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "CSP_EXTRA_SOURCES must be a JSON object of lists" in result.stderr


def test_a_form_sent_without_its_csrf_token_gets_the_sites_page_not_djangos_inline_styled_one(
    db,
):
    response = Client(enforce_csrf_checks=True).post(
        "/accounts/login/", {"username": "alice", "password": "x"}
    )
    html = response.content.decode()
    assert response.status_code == 403
    assert "This form has expired" in html
    assert "<style" not in html
    assert "chatkit/site.css" in html
    assert "script-src" in response["Content-Security-Policy"]
