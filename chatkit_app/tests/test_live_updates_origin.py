"""Which pages may open the staff websockets, against real daphne processes
with real websocket clients: exactly the site's own origin (scheme, host and
port) and CSRF_TRUSTED_ORIGINS, as Django's CSRF check decides for a POST."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from .live_daphne import LiveDaphne, start_daphne

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

TIMEOUT = 15
TRUSTED = "https://chat.example.org,https://*.example.net"


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker) -> Iterator[LiveDaphne]:
    with start_daphne({"CSRF_TRUSTED_ORIGINS": TRUSTED}) as live:
        yield live


@pytest.fixture(scope="module")
def behind_proxy(django_db_setup, django_db_blocker) -> Iterator[LiveDaphne]:
    with start_daphne({"USE_X_FORWARDED_PROTO": "true"}) as live:
        yield live


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def open_socket(server: LiveDaphne, user, origin: str | None, *, host: str = "", **headers):
    """A websocket to the server's activity feed; ``host`` is the Host the
    client says it connected to (the connection is always to the server)."""
    port = int(server.url.rsplit(":", 1)[1])
    return connect(
        f"ws://{host or '127.0.0.1'}:{port}/ws/chatkit/activity/",
        sock=socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT),
        origin=origin,
        additional_headers={"Cookie": session_cookie(user), **headers},
        open_timeout=TIMEOUT,
    )


def accepted(server: LiveDaphne, user, origin: str | None, **kwargs) -> bool:
    """True if the socket opened and streamed; False if the handshake was refused."""
    try:
        with open_socket(server, user, origin, **kwargs) as socket:
            while json.loads(socket.recv(timeout=TIMEOUT))["type"] != "caught_up":
                pass
            return True
    except InvalidStatus as refused:
        status = refused.response.status_code
    assert status == 403
    return False


def test_the_sites_own_origin_is_accepted(server, charlie):
    assert accepted(server, charlie, server.url)


def test_another_port_of_the_same_host_is_refused(server, charlie):
    """The attack from the security review: a page on port 9999 of an
    allowed host, opened by a signed-in staff member."""
    assert not accepted(server, charlie, "http://127.0.0.1:9999")
    assert not accepted(server, charlie, "http://127.0.0.1")
    assert "Refused a websocket" in server.log()


def test_another_scheme_is_refused(server, charlie):
    port = server.url.rsplit(":", 1)[1]
    assert not accepted(server, charlie, f"https://127.0.0.1:{port}")


def test_another_allowed_host_than_the_one_connected_to_is_refused(server, charlie):
    port = server.url.rsplit(":", 1)[1]
    assert not accepted(server, charlie, f"http://localhost:{port}")
    assert accepted(server, charlie, f"http://localhost:{port}", host="localhost")


def test_a_missing_or_null_origin_is_refused(server, charlie):
    assert not accepted(server, charlie, None)
    assert not accepted(server, charlie, "null")


def test_a_host_outside_allowed_hosts_is_refused_whatever_the_origin(server, charlie):
    port = server.url.rsplit(":", 1)[1]
    assert not accepted(server, charlie, f"http://evil.example:{port}", host="evil.example")


def test_csrf_trusted_origins_are_accepted(server, charlie):
    assert accepted(server, charlie, "https://chat.example.org")
    assert accepted(server, charlie, "https://eu.example.net")
    assert not accepted(server, charlie, "http://chat.example.org")
    assert not accepted(server, charlie, "https://chat.example.org:8443")
    assert not accepted(server, charlie, "https://example.org")


def test_behind_a_tls_proxy_the_scheme_comes_from_x_forwarded_proto(behind_proxy, charlie):
    port = behind_proxy.url.rsplit(":", 1)[1]
    https = {"X-Forwarded-Proto": "https"}
    assert accepted(behind_proxy, charlie, f"https://127.0.0.1:{port}", **https)
    assert not accepted(behind_proxy, charlie, f"http://127.0.0.1:{port}", **https)
    assert accepted(behind_proxy, charlie, f"http://127.0.0.1:{port}")
