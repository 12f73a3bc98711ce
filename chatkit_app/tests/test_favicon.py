"""The site's icon: linked from every page (the site's and the admin's), and
``/favicon.ico``, which browsers ask for whatever a page links, answering
instead of a 404."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

pytestmark = pytest.mark.django_db

ICONS = re.compile(r'<link rel="icon" href="([^"]+)"')


def icons_linked(html: str) -> list[str]:
    return ICONS.findall(html)


def test_favicon_ico_sends_the_browser_to_the_icon():
    response = Client().get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/favicon.ico"
    assert "max-age=86400" in response["Cache-Control"]
    found = finders.find("favicon.ico")
    assert found
    with open(found, "rb") as icon:
        assert icon.read(4) == b"\x00\x00\x01\x00"  # an ICO file
    assert Client().post("/favicon.ico").status_code == 405


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_pages_link_the_icon(path):
    response = Client().get(path)
    assert response.status_code == 200
    assert icons_linked(response.content.decode()) == [
        "/static/favicon.ico",
        "/static/favicon.svg",
    ]


def test_signed_in_pages_and_the_admin_link_the_icon(alice, charlie):
    client = Client()
    client.force_login(alice)
    for path in ("/", "/tasks/", "/demo/"):
        assert "/static/favicon.svg" in icons_linked(client.get(path).content.decode()), path
    staff = Client()
    staff.force_login(charlie)
    for path in ("/admin/", "/admin/chatkit_app/conversation/"):
        page = staff.get(path).content.decode()
        assert icons_linked(page) == ["/static/favicon.ico", "/static/favicon.svg"], path
