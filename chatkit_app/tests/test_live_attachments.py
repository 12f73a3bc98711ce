"""Attachments over real HTTP: the two-phase upload as a browser does it, an
upload cut off half way, and a body over the limit refused before it is read."""

from __future__ import annotations

import io
import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from chatkit_app.models import Attachment

from .chatkit_client import create_thread, parse_sse
from .live_daphne import start_daphne, token_client

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory):
    media = tmp_path_factory.mktemp("media")
    with start_daphne(
        {"CHATKIT_TEST_MEDIA_ROOT": str(media), "CHATKIT_ATTACHMENT_MAX_BYTES": "200000"}
    ) as live:
        live.media = media
        yield live


@pytest.fixture
def http(server, alice):
    with token_client(server, alice) as client:
        yield client


def call(http, body):
    return http.post("/chatkit", content=json.dumps(body))


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 200), "orange").save(out, format="PNG")
    return out.getvalue()


def test_upload_attach_send_and_see_the_preview_over_http(http, server):
    data = png()
    created = call(
        http,
        {
            "type": "attachments.create",
            "params": {"name": "o.png", "size": len(data), "mime_type": "image/png"},
        },
    ).json()
    upload_url = created["upload_descriptor"]["url"]
    assert upload_url.startswith(server.url)
    # A browser posts the signed link with no credentials of its own.
    uploaded = httpx.post(upload_url, files={"file": ("o.png", data, "image/png")})
    assert uploaded.status_code == 200, uploaded.text

    events = parse_sse(call(http, create_thread("see this", attachments=[created["id"]])).content)
    thread_id = events[0]["thread"]["id"]
    thread = call(http, {"type": "threads.get_by_id", "params": {"thread_id": thread_id}}).json()
    preview_url = thread["items"]["data"][0]["attachments"][0]["preview_url"]
    preview = httpx.get(preview_url)
    assert preview.status_code == 200
    assert preview.headers["content-type"] == "image/webp"
    assert httpx.get(preview_url.split("?")[0]).status_code == 404


def test_an_upload_cut_off_half_way_stores_nothing_usable(http, server):
    data = png() + b"\x00" * 50000
    files_before = sorted(server.media.rglob("*"))
    created = call(
        http,
        {
            "type": "attachments.create",
            "params": {"name": "o.png", "size": len(data), "mime_type": "image/png"},
        },
    ).json()
    url = urlsplit(created["upload_descriptor"]["url"])
    boundary = "----cutoff"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="o.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(
            (
                f"POST {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body[: len(body) // 2]
        )
    # The connection is gone with half the body sent: sending the attachment
    # is refused, and nothing of the half upload was kept.
    sent = call(http, create_thread("here", attachments=[created["id"]]))
    assert sent.status_code == 400
    assert sent.json()["error"]["code"] == "attachment_not_uploaded"
    row = Attachment.objects.get(pk=created["id"])
    assert row.uploaded_at is None
    assert not row.file
    assert sorted(server.media.rglob("*")) == files_before


def test_an_upload_over_the_limit_is_refused_before_it_is_read(http, server):
    created = call(
        http,
        {
            "type": "attachments.create",
            "params": {"name": "a.txt", "size": 10, "mime_type": "text/plain"},
        },
    ).json()
    response = httpx.post(
        created["upload_descriptor"]["url"], files={"file": ("a.txt", b"a" * 400000, "text/plain")}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_an_upload_link_cannot_remove_the_image_of_a_sent_message(http, server):
    """The attack from the security review: the sent message's upload link,
    still valid, posted to bare (no file, no credentials) and with another
    file. Each is a 409, and the owner's message still shows its image."""
    data = png()
    created = call(
        http,
        {
            "type": "attachments.create",
            "params": {"name": "o.png", "size": len(data), "mime_type": "image/png"},
        },
    ).json()
    upload_url = created["upload_descriptor"]["url"]
    assert httpx.post(upload_url, files={"file": ("o.png", data, "image/png")}).status_code == 200
    events = parse_sse(call(http, create_thread("see this", attachments=[created["id"]])).content)
    thread_id = events[0]["thread"]["id"]
    files_before = sorted(server.media.rglob("*"))

    bare = httpx.post(upload_url)
    assert bare.status_code == 409, bare.text
    assert bare.json()["error"]["code"] == "already_uploaded"
    other = httpx.post(upload_url, files={"file": ("x.txt", b"\x00\x01", "text/plain")})
    assert other.status_code == 409, other.text

    assert sorted(server.media.rglob("*")) == files_before
    thread = call(http, {"type": "threads.get_by_id", "params": {"thread_id": thread_id}}).json()
    preview = httpx.get(thread["items"]["data"][0]["attachments"][0]["preview_url"])
    assert preview.status_code == 200
    assert preview.headers["content-type"] == "image/webp"
    original = http.get(f"/chatkit/attachments/{created['id']}/file")
    assert original.status_code == 200
    assert original.content == data
