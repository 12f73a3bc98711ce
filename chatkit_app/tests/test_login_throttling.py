"""Login throttling (django-axes) over real HTTP: a real daphne process (the
ASGI path production runs) behind what a reverse proxy would send, and
Django's test client for the settings without a proxy.

The servers lock after 3 failures. A sign-in is refused once its address or
its username has that many failures within the cool-off; failures while
refused are not counted. Addresses come from X-Forwarded-For as one proxy
appends them (``USE_X_FORWARDED_PROTO=true`` implies one trusted proxy).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import httpx
import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from websockets.sync.client import connect

from chatkit_app.tokens import token_create

from .conftest import PASSWORD
from .live_daphne import LiveDaphne, start_daphne

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

LIMIT = 3
SERVER_ENV = {
    "AXES_FAILURE_LIMIT": str(LIMIT),
    "AXES_COOLOFF_MINUTES": "15",
    "USE_X_FORWARDED_PROTO": "true",
}
# Client addresses as the proxy saw them (documentation ranges).
HOME, OFFICE, CAFE, HOTEL = "203.0.113.10", "203.0.113.20", "198.51.100.30", "198.51.100.40"
LOCKED_PAGE = "Too many sign-in attempts"


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker) -> Iterator[LiveDaphne]:
    with start_daphne(SERVER_ENV) as live:
        yield live


def browser_from(server: LiveDaphne, address: str, *, forged: str = "") -> httpx.Client:
    """A client reaching the site through the proxy from ``address``; ``forged``
    is an X-Forwarded-For value the client wrote itself (the proxy appends)."""
    forwarded = f"{forged}, {address}" if forged else address
    return httpx.Client(base_url=server.url, headers={"X-Forwarded-For": forwarded}, timeout=30)


def sign_in(
    client: httpx.Client, username: str, password: str, *, path: str = "/accounts/login/"
) -> httpx.Response:
    """Fill in the sign-in form at ``path`` as a browser does (CSRF included)."""
    form = client.get(path)
    assert form.status_code == 200, form.text
    return client.post(
        path,
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
            "next": "/",
        },
    )


def attempt(server, address, username, password, **kwargs) -> httpx.Response:
    with browser_from(server, address, forged=kwargs.pop("forged", "")) as client:
        return sign_in(client, username, password, **kwargs)


def signed_in(response: httpx.Response) -> bool:
    return response.status_code == 302 and "sessionid" in response.cookies


def refused(response: httpx.Response) -> bool:
    return response.status_code == 429 and LOCKED_PAGE in response.text


def fail(server, address, username, times=LIMIT, **kwargs) -> list[httpx.Response]:
    return [attempt(server, address, username, "wrong password", **kwargs) for _ in range(times)]


def test_wrong_passwords_then_the_right_one_is_refused_with_a_page_saying_when_to_try_again(
    server, alice
):
    responses = fail(server, HOME, "alice")
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert "Please enter a correct username and password" in responses[0].text

    with browser_from(server, HOME) as client:
        response = sign_in(client, "alice", PASSWORD)
        assert refused(response)
        assert not signed_in(response)
        assert "Signing in as <strong>alice</strong> from here is paused after 3 failed" in (
            response.text
        )
        assert re.search(r"Try again in 15 minutes, at \d\d:\d\d UTC\.", response.text)
        assert 880 <= int(response.headers["Retry-After"]) <= 900
        assert "Ask a staff member to unlock it" in response.text
        assert "chatkit/site.css" in response.text  # the site's own page, in its style
        # Still not signed in.
        assert client.get("/").headers["Location"].startswith("/accounts/login/")


def test_a_locked_out_address_cannot_go_on_to_other_accounts(server, alice, bob):
    fail(server, HOME, "alice")
    assert refused(attempt(server, HOME, "bob", PASSWORD))


def test_a_locked_account_is_paused_from_every_address_but_other_accounts_are_not(
    server, alice, bob
):
    fail(server, HOME, "alice")
    assert refused(attempt(server, OFFICE, "alice", PASSWORD))
    assert signed_in(attempt(server, OFFICE, "bob", PASSWORD))


def test_many_addresses_cannot_guess_at_one_account(server, alice, bob):
    responses = [
        attempt(server, address, "alice", "wrong password") for address in (HOME, OFFICE, CAFE)
    ]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert refused(attempt(server, HOTEL, "alice", PASSWORD))
    # One failure each does not lock those addresses.
    assert signed_in(attempt(server, HOME, "bob", PASSWORD))


def test_one_address_cannot_lock_out_every_account(server, alice, bob, charlie):
    fail(server, HOME, "alice", times=2)
    assert refused(fail(server, HOME, "bob", times=1)[0])  # the address's third failure
    # Refused attempts are not counted: charlie keeps no failures from HOME.
    assert all(refused(r) for r in fail(server, HOME, "charlie", times=5))
    assert not AccessAttempt.objects.filter(username="charlie").exists()

    assert signed_in(attempt(server, OFFICE, "charlie", PASSWORD))
    assert signed_in(attempt(server, OFFICE, "alice", PASSWORD))
    assert signed_in(attempt(server, CAFE, "bob", PASSWORD))


def test_a_forged_x_forwarded_for_entry_does_not_change_the_address(server, alice, bob):
    for number in range(LIMIT):
        attempt(server, HOME, "alice", "wrong password", forged=f"192.0.2.{number}")
    assert refused(attempt(server, HOME, "bob", PASSWORD, forged="192.0.2.99"))
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {HOME}


def test_the_admin_sign_in_is_throttled_too(server, charlie):
    responses = fail(server, HOME, "charlie", path="/admin/login/")
    assert [r.status_code for r in responses] == [200, 200, 429]
    response = attempt(server, HOME, "charlie", PASSWORD, path="/admin/login/")
    assert refused(response)
    assert 'href="/admin/login/">Back to sign in' in response.text
    # The same lock on the site's own sign-in page, from another address.
    assert refused(attempt(server, OFFICE, "charlie", PASSWORD))


def test_staff_unlock_an_account_in_the_admin(server, alice, charlie):
    fail(server, HOME, "alice")
    with browser_from(server, OFFICE) as staff:
        assert signed_in(sign_in(staff, "charlie", PASSWORD, path="/admin/login/?next=/admin/"))
        listing = staff.get("/admin/axes/accessattempt/")
        assert listing.status_code == 200
        assert "alice" in listing.text
        ids = [str(pk) for pk in AccessAttempt.objects.values_list("pk", flat=True)]
        confirmed = staff.post(
            "/admin/axes/accessattempt/",
            data={
                "action": "delete_selected",
                "_selected_action": ids,
                "post": "yes",
                "csrfmiddlewaretoken": staff.cookies["csrftoken"],
            },
        )
        assert confirmed.status_code == 302, confirmed.text
    assert not AccessAttempt.objects.exists()
    assert signed_in(attempt(server, HOME, "alice", PASSWORD))


def test_staff_unlock_an_account_or_an_address_with_manage_py(server, alice, bob):
    fail(server, HOME, "alice")
    call_command("axes_reset_username", "alice")
    assert signed_in(attempt(server, HOME, "alice", PASSWORD))

    fail(server, OFFICE, "nobody-such")
    assert refused(attempt(server, OFFICE, "bob", PASSWORD))
    call_command("axes_reset_ip", OFFICE)
    assert signed_in(attempt(server, OFFICE, "bob", PASSWORD))


def test_api_tokens_sessions_and_websockets_keep_working_from_a_locked_out_address(
    server, alice, charlie
):
    with browser_from(server, HOME) as alice_browser, browser_from(server, HOME) as staff:
        assert signed_in(sign_in(alice_browser, "alice", PASSWORD))
        assert signed_in(sign_in(staff, "charlie", PASSWORD, path="/admin/login/?next=/admin/"))
        fail(server, HOME, "alice")  # now both alice and HOME are locked
        assert refused(attempt(server, HOME, "alice", PASSWORD))

        listing = json.dumps({"type": "threads.list", "params": {"limit": 5}})
        # A session signed in before the lock.
        page = alice_browser.get("/")
        assert page.status_code == 200
        by_session = alice_browser.post(
            "/chatkit",
            content=listing,
            headers={"X-CSRFToken": alice_browser.cookies["csrftoken"]},
        )
        assert by_session.status_code == 200, by_session.text

        # A bearer token is not a password sign-in.
        _, raw = token_create(user=alice)
        with browser_from(server, HOME) as api_client:
            by_token = api_client.post(
                "/chatkit", content=listing, headers={"Authorization": f"Bearer {raw}"}
            )
        assert by_token.status_code == 200, by_token.text

        # The admin's websockets authenticate with the staff session.
        cookie = staff.cookies[settings.SESSION_COOKIE_NAME]
        with connect(
            server.url.replace("http://", "ws://") + "/ws/chatkit/activity/",
            origin=server.url,
            additional_headers={
                "Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}",
                "X-Forwarded-For": HOME,
            },
            proxy=None,
            open_timeout=15,
        ) as socket:
            events = []
            while not events or events[-1]["type"] != "caught_up":
                events.append(json.loads(socket.recv(timeout=15)))


def test_the_lock_lifts_by_itself_after_the_cool_off(alice):
    with start_daphne({**SERVER_ENV, "AXES_COOLOFF_MINUTES": "0.05"}) as quick:
        fail(quick, HOME, "alice")
        response = attempt(quick, HOME, "alice", PASSWORD)
        assert refused(response)
        wait = int(response.headers["Retry-After"])
        assert 1 <= wait <= 3
        assert re.search(r"Try again in [123] seconds?", response.text)
        time.sleep(wait + 0.5)
        assert signed_in(attempt(quick, HOME, "alice", PASSWORD))


def test_without_a_proxy_x_forwarded_for_is_ignored(settings, alice, bob):
    """The default (no USE_X_FORWARDED_PROTO, no TRUSTED_PROXY_COUNT): the
    connection's address counts, whatever X-Forwarded-For a client writes."""
    settings.AXES_FAILURE_LIMIT = LIMIT
    for number in range(LIMIT):
        Client(REMOTE_ADDR=HOME, HTTP_X_FORWARDED_FOR=f"192.0.2.{number}").post(
            "/accounts/login/", {"username": "alice", "password": "wrong password"}
        )
    response = Client(REMOTE_ADDR=HOME, HTTP_X_FORWARDED_FOR="192.0.2.99").post(
        "/accounts/login/", {"username": "bob", "password": PASSWORD}
    )
    assert response.status_code == 429
    assert LOCKED_PAGE in response.content.decode()
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {HOME}
    # Another connection is another address.
    response = Client(REMOTE_ADDR=OFFICE).post(
        "/accounts/login/", {"username": "bob", "password": PASSWORD}
    )
    assert response.status_code == 302


def test_with_no_cool_off_only_staff_can_lift_a_lock(settings, alice):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = None
    client = Client(REMOTE_ADDR=HOME)
    for _ in range(LIMIT):
        client.post("/accounts/login/", {"username": "alice", "password": "wrong password"})
    AccessAttempt.objects.update(attempt_time="2001-01-01T00:00:00Z")  # long ago
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert "A staff member has to unlock the account" in response.content.decode()
    assert "Retry-After" not in response
