"""Attachments: the two-phase upload, limits checked against the content,
previews behind signed links, what the model sees, isolation and cleanup."""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from PIL import Image

from chatkit_app import services
from chatkit_app.models import Attachment, Conversation

from .chatkit_client import ApiClient, add_message, create_thread

pytestmark = pytest.mark.django_db


def png(width: int = 800, height: int = 600, color: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()]


class User(ApiClient):
    """An API client that also uploads files."""

    def create(self, name: str, mime_type: str, size: int):
        params = {"name": name, "size": size, "mime_type": mime_type}
        return self({"type": "attachments.create", "params": params})

    def upload(self, url: str, data: bytes, name: str, mime_type: str, **headers):
        path = url.split("testserver", 1)[1]
        file = SimpleUploadedFile(name, data, content_type=mime_type)
        return Client().post(path, {"file": file}, **headers)

    def attach(self, data: bytes, name: str = "cat.png", mime_type: str = "image/png") -> dict:
        created = self.create(name, mime_type, len(data))
        assert created.status_code == 200, created.content
        attachment = created.json()
        uploaded = self.upload(attachment["upload_descriptor"]["url"], data, name, mime_type)
        assert uploaded.status_code == 200, uploaded.content
        return uploaded.json()


@pytest.fixture
def as_alice(alice):
    return User(alice)


@pytest.fixture
def as_bob(bob):
    return User(bob)


def test_create_answers_with_a_signed_upload_descriptor(as_alice):
    response = as_alice.create("cat.png", "image/png", 1234)
    assert response.status_code == 200
    attachment = response.json()
    assert attachment["type"] == "image"
    assert attachment["id"].startswith("atc_")
    descriptor = attachment["upload_descriptor"]
    assert descriptor["method"] == "POST"
    assert descriptor["url"].startswith(
        f"http://testserver/chatkit/attachments/{attachment['id']}/upload?token="
    )
    assert "/preview?token=" in attachment["preview_url"]
    row = Attachment.objects.get()
    assert (row.owner, row.name, row.uploaded_at) == (as_alice.user, "cat.png", None)


def test_an_image_is_uploaded_attached_sent_and_seen_by_the_model(provider, as_alice, media):
    attachment = as_alice.attach(png())
    assert "upload_descriptor" not in attachment
    row = Attachment.objects.get()
    assert row.uploaded_at is not None
    assert row.size == len(png())
    assert len(stored_files(media)) == 2  # the file and its preview

    events = as_alice(
        create_thread("What colour is this?", attachments=[attachment["id"]])
    ).events()
    user_item = next(e["item"] for e in events if e["type"] == "thread.item.done")
    assert [a["id"] for a in user_item["attachments"]] == [attachment["id"]]
    assert Attachment.objects.get().conversation_id == events[0]["thread"]["id"]

    body = provider.answer_requests()[0].body
    sent = str(body.get("input") or body.get("messages"))
    assert "data:image/png;base64," in sent


def test_the_preview_is_a_small_image_behind_a_signed_link(as_alice):
    attachment = as_alice.attach(png(2000, 1000))
    thread_id = as_alice(create_thread("look", attachments=[attachment["id"]])).events()[0][
        "thread"
    ]["id"]

    thread = as_alice({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}).json()
    preview_url = thread["items"]["data"][0]["attachments"][0]["preview_url"]
    response = Client().get(preview_url.split("testserver", 1)[1])
    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert response["X-Content-Type-Options"] == "nosniff"
    with Image.open(io.BytesIO(b"".join(response.streaming_content))) as preview:
        assert max(preview.size) == 512
        assert preview.size == (512, 256)

    # Without the signature the path is useless, and a signature is bound to
    # its attachment and purpose.
    bare = preview_url.split("?")[0].split("testserver", 1)[1]
    assert Client().get(bare).status_code == 404
    token = preview_url.split("token=")[1]
    file_url = bare.replace("/preview", "/file")
    assert Client().get(f"{file_url}?token={token}").status_code == 404
    assert Client().get(f"{bare}?token={token[:-2]}xx").status_code == 404


def test_an_expired_link_no_longer_works(as_alice, settings):
    attachment = as_alice.attach(png())
    preview = as_alice(
        {
            "type": "attachments.create",
            "params": {"name": "x.png", "size": 10, "mime_type": "image/png"},
        }
    )
    settings.CHATKIT_ATTACHMENT_URL_MAX_AGE = -1
    path = attachment["preview_url"].split("testserver", 1)[1]
    assert Client().get(path).status_code == 404
    assert preview.status_code == 200


def test_the_owner_signed_in_and_staff_can_open_the_file(as_alice, alice, bob, charlie):
    attachment = as_alice.attach(b"hello, world\n", "notes.txt", "text/plain")
    path = f"/chatkit/attachments/{attachment['id']}/file"
    for user, status in ((alice, 200), (charlie, 200), (bob, 404)):
        client = Client()
        client.force_login(user)
        assert client.get(path).status_code == status, user
    assert Client().get(path, headers=None).status_code == 404


def test_a_text_file_reaches_the_model_as_text_and_a_pdf_as_a_description(provider, as_alice):
    text = as_alice.attach(b"Milk\nEggs\nCoffee\n", "shopping.txt", "text/plain")
    pdf = as_alice.attach(
        b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n%%EOF\n", "report.pdf", "application/pdf"
    )
    as_alice(create_thread("Summarise", attachments=[text["id"], pdf["id"]]))
    body = provider.answer_requests()[0].body
    sent = str(body.get("input") or body.get("messages"))
    assert "Milk\\nEggs\\nCoffee" in sent
    assert "shopping.txt" in sent
    assert "report.pdf (application/pdf" in sent


# --- limits -------------------------------------------------------------------


def test_a_declared_size_over_the_limit_is_413(as_alice, settings):
    settings.CHATKIT_ATTACHMENT_MAX_BYTES = 1000
    response = as_alice.create("big.png", "image/png", 5000)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "attachment_too_large"
    assert not Attachment.objects.exists()


def test_a_declared_type_that_is_not_allowed_is_415(as_alice):
    response = as_alice.create("setup.exe", "application/x-msdownload", 100)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "attachment_type_not_allowed"
    assert not Attachment.objects.exists()


def test_an_upload_over_the_limit_is_413_and_leaves_nothing(as_alice, settings, media):
    settings.CHATKIT_ATTACHMENT_MAX_BYTES = 2000
    created = as_alice.create("small.txt", "text/plain", 100).json()
    response = as_alice.upload(
        created["upload_descriptor"]["url"], b"x" * 5000, "small.txt", "text/plain"
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "attachment_too_large"
    assert not Attachment.objects.exists()
    assert stored_files(media) == []


@pytest.mark.parametrize(
    ("data", "name", "declared"),
    [
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 200, "cat.png", "image/png"),
        (b"\x00\x01\x02binary" * 50, "notes.txt", "text/plain"),
        (png(), "notes.txt", "text/plain"),
        (b"%PDF-1.4 not an image", "photo.jpg", "image/jpeg"),
    ],
)
def test_content_that_does_not_match_an_allowed_type_is_415_and_leaves_nothing(
    as_alice, media, data, name, declared
):
    created = as_alice.create(name, declared, len(data)).json()
    response = as_alice.upload(created["upload_descriptor"]["url"], data, name, declared)
    assert response.status_code == 415
    assert response.json()["error"]["code"] in {
        "attachment_type_not_allowed",
        "attachment_type_mismatch",
    }
    assert not Attachment.objects.exists()
    assert stored_files(media) == []


def test_an_upload_without_a_file_field_is_400(as_alice):
    created = as_alice.create("a.txt", "text/plain", 3).json()
    path = created["upload_descriptor"]["url"].split("testserver", 1)[1]
    response = Client().post(path, {"other": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "missing_file"


def test_an_attachment_is_uploaded_only_once(as_alice):
    created = as_alice.create("a.txt", "text/plain", 3).json()
    url = created["upload_descriptor"]["url"]
    assert as_alice.upload(url, b"abc", "a.txt", "text/plain").status_code == 200
    again = as_alice.upload(url, b"xyz", "a.txt", "text/plain")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_uploaded"


def test_a_message_carries_at_most_the_maximum_number_of_attachments(as_alice, settings):
    settings.CHATKIT_ATTACHMENT_MAX_COUNT = 2
    ids = [as_alice.attach(b"note %d" % n, f"n{n}.txt", "text/plain")["id"] for n in range(3)]
    response = as_alice(create_thread("three files", attachments=ids))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many_attachments"
    assert not Conversation.objects.exists()


def test_an_attachment_that_was_never_uploaded_cannot_be_sent(as_alice):
    created = as_alice.create("a.txt", "text/plain", 3).json()
    response = as_alice(create_thread("here", attachments=[created["id"]]))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "attachment_not_uploaded"
    assert not Conversation.objects.exists()


def test_an_attachment_already_sent_cannot_be_sent_or_deleted_again(as_alice):
    attachment = as_alice.attach(b"once", "a.txt", "text/plain")
    thread_id = as_alice(create_thread("first", attachments=[attachment["id"]])).events()[0][
        "thread"
    ]["id"]
    again = as_alice(add_message(thread_id, "again", attachments=[attachment["id"]]))
    assert again.status_code == 409
    deleted = as_alice(
        {"type": "attachments.delete", "params": {"attachment_id": attachment["id"]}}
    )
    assert deleted.status_code == 409
    assert deleted.json()["error"]["code"] == "attachment_in_use"


# --- isolation ----------------------------------------------------------------


def test_another_users_attachment_is_404_at_every_step(as_alice, as_bob, bob, media):
    attachment = as_alice.attach(png())
    unsent = as_alice.create("later.png", "image/png", 100).json()
    before = sorted(stored_files(media))

    # Sending it, deleting it, uploading to it, opening it.
    assert as_bob(create_thread("mine now", attachments=[attachment["id"]])).status_code == 404
    assert (
        as_bob(
            {"type": "attachments.delete", "params": {"attachment_id": attachment["id"]}}
        ).status_code
        == 404
    )
    bare_upload = f"/chatkit/attachments/{unsent['id']}/upload"
    file = SimpleUploadedFile("x.png", png(), content_type="image/png")
    assert Client().post(bare_upload, {"file": file}, **as_bob.auth).status_code == 404
    client = Client()
    client.force_login(bob)
    assert client.get(f"/chatkit/attachments/{attachment['id']}/preview").status_code == 404
    assert client.get(f"/chatkit/attachments/{attachment['id']}/file").status_code == 404
    # Alice's signed link names Alice: Bob cannot use it for his own attachment.
    bobs = as_bob.create("b.png", "image/png", 100).json()
    alices_token = unsent["upload_descriptor"]["url"].split("token=")[1]
    steal = Client().post(
        f"/chatkit/attachments/{bobs['id']}/upload?token={alices_token}",
        {"file": SimpleUploadedFile("x.png", png(), content_type="image/png")},
    )
    assert steal.status_code == 404

    assert Conversation.objects.count() == 0
    assert sorted(stored_files(media)) == before
    assert Attachment.objects.filter(owner=as_alice.user).count() == 2


def test_an_upload_with_a_session_needs_the_csrf_token(alice):
    created = User(alice).create("a.txt", "text/plain", 3).json()
    path = f"/chatkit/attachments/{created['id']}/upload"
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    file = SimpleUploadedFile("a.txt", b"abc", content_type="text/plain")
    response = client.post(path, {"file": file})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"


# --- cleanup ------------------------------------------------------------------


def test_removing_an_unsent_attachment_deletes_its_file(
    as_alice, media, django_capture_on_commit_callbacks
):
    attachment = as_alice.attach(png())
    assert len(stored_files(media)) == 2
    with django_capture_on_commit_callbacks(execute=True):
        response = as_alice(
            {"type": "attachments.delete", "params": {"attachment_id": attachment["id"]}}
        )
    assert response.status_code == 200
    assert not Attachment.objects.exists()
    assert stored_files(media) == []


def test_deleting_a_thread_removes_its_files(as_alice, media, django_capture_on_commit_callbacks):
    attachment = as_alice.attach(png())
    other = as_alice.attach(b"keep me", "keep.txt", "text/plain")
    thread_id = as_alice(create_thread("bye", attachments=[attachment["id"]])).events()[0][
        "thread"
    ]["id"]
    with django_capture_on_commit_callbacks(execute=True):
        as_alice({"type": "threads.delete", "params": {"thread_id": thread_id}})
    assert list(Attachment.objects.values_list("pk", flat=True)) == [other["id"]]
    assert [p.read_bytes() for p in stored_files(media)] == [b"keep me"]


def test_orphans_are_pruned_after_the_grace_period(
    as_alice, media, django_capture_on_commit_callbacks
):
    sent = as_alice.attach(png())
    as_alice(create_thread("keep", attachments=[sent["id"]]))
    orphan = as_alice.attach(b"forgotten", "f.txt", "text/plain")
    never_uploaded = as_alice.create("g.txt", "text/plain", 3).json()

    assert services.attachments_prune_orphans(older_than=timezone.now() - timedelta(hours=1)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        pruned = services.attachments_prune_orphans(
            older_than=timezone.now() + timedelta(seconds=1)
        )
    assert pruned == 2
    assert list(Attachment.objects.values_list("pk", flat=True)) == [sent["id"]]
    assert orphan["id"] != never_uploaded["id"]
    assert len(stored_files(media)) == 2  # the sent image and its preview


def test_chatkit_prune_orphans_removes_old_unsent_uploads(
    as_alice, media, settings, django_capture_on_commit_callbacks
):
    from io import StringIO

    from django.core.management import call_command

    sent = as_alice.attach(png())
    as_alice(create_thread("keep", attachments=[sent["id"]]))
    as_alice.attach(b"forgotten", "f.txt", "text/plain")

    def prune(*args: str) -> str:
        out = StringIO()
        with django_capture_on_commit_callbacks(execute=True):
            call_command("chatkit_prune", "--orphans", *args, stdout=out)
        return out.getvalue().strip()

    # Within the grace period nothing goes.
    assert prune().startswith("Deleted 0 orphaned attachments")
    assert prune("--older-than", "1m", "--dry-run").startswith("Would delete 0")
    Attachment.objects.exclude(pk=sent["id"]).update(created_at=timezone.now() - timedelta(days=2))
    assert prune("--dry-run").startswith("Would delete 1 orphaned attachments")
    assert prune().startswith("Deleted 1 orphaned attachments")
    assert list(Attachment.objects.values_list("pk", flat=True)) == [sent["id"]]
    assert len(stored_files(media)) == 2
    assert prune().startswith("Deleted 0 orphaned attachments"), "idempotent"


# --- what a link, or a request without credentials, cannot do -------------------


def upload_path(attachment: dict) -> str:
    return attachment["upload_descriptor"]["url"].split("testserver", 1)[1]


def fresh_preview_path(as_alice, thread_id: str) -> str:
    thread = as_alice({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}).json()
    return thread["items"]["data"][0]["attachments"][0]["preview_url"].split("testserver", 1)[1]


def test_an_upload_link_never_deletes_or_replaces_a_sent_file(
    as_alice, media, django_capture_on_commit_callbacks
):
    created = as_alice.create("cat.png", "image/png", len(png())).json()
    link = upload_path(created)
    assert as_alice.upload(created["upload_descriptor"]["url"], png(), "cat.png", "image/png")
    thread_id = as_alice(create_thread("my cat", attachments=[created["id"]])).events()[0][
        "thread"
    ]["id"]
    files = {path: path.read_bytes() for path in stored_files(media)}
    row = Attachment.objects.get()

    # The link is still valid; whatever comes to it, with no credentials.
    with django_capture_on_commit_callbacks(execute=True):
        attempts = [
            Client().post(link),
            Client().post(link, {"other": "x"}),
            Client().post(link, b"junk", content_type="multipart/form-data"),
            Client().post(link, {"file": SimpleUploadedFile("x.png", png(9, 9, "red"))}),
            Client().post(link, {"file": SimpleUploadedFile("x.exe", b"MZ\x90\x00")}),
        ]
    for response in attempts:
        assert response.status_code == 409, response.content
        assert response.json()["error"]["code"] == "already_uploaded"

    assert {path: path.read_bytes() for path in stored_files(media)} == files
    after = Attachment.objects.get()
    assert (after.file.name, after.preview.name, after.uploaded_at, after.conversation_id) == (
        row.file.name,
        row.preview.name,
        row.uploaded_at,
        thread_id,
    )
    preview = Client().get(fresh_preview_path(as_alice, thread_id))
    assert preview.status_code == 200
    assert preview["Content-Type"] == "image/webp"


def test_an_uploaded_file_not_yet_sent_is_not_replaced_either(
    as_alice, media, django_capture_on_commit_callbacks
):
    created = as_alice.create("a.txt", "text/plain", 5).json()
    assert as_alice.upload(created["upload_descriptor"]["url"], b"first", "a.txt", "text/plain")
    with django_capture_on_commit_callbacks(execute=True):
        again = Client().post(upload_path(created), {"file": SimpleUploadedFile("a.txt", b"\0")})
    assert again.status_code == 409
    assert [p.read_bytes() for p in stored_files(media)] == [b"first"]
    sent = as_alice(create_thread("here", attachments=[created["id"]]))
    assert sent.status_code == 200


def test_a_request_without_a_file_changes_nothing_and_the_link_still_works(as_alice):
    created = as_alice.create("a.txt", "text/plain", 3).json()
    assert Client().post(upload_path(created)).json()["error"]["code"] == "missing_file"
    assert Attachment.objects.get().uploaded_at is None
    uploaded = as_alice.upload(created["upload_descriptor"]["url"], b"abc", "a.txt", "text/plain")
    assert uploaded.status_code == 200


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\x01bad",
        "multipart/form-data; boundary=" + "b" * 300,
    ],
)
def test_a_malformed_multipart_body_is_a_json_400_that_changes_nothing(
    as_alice, alice, content_type, caplog
):
    created = as_alice.create("a.txt", "text/plain", 3).json()
    body = b"--x\r\nContent-Disposition: form-data; name=file\r\n\r\nabc\r\n--x--\r\n"
    by_link = Client().post(upload_path(created), body, content_type=content_type)
    session = Client(enforce_csrf_checks=True)
    session.force_login(alice)
    session.cookies["csrftoken"] = "a" * 32
    by_session = session.post(
        f"/chatkit/attachments/{created['id']}/upload",
        body,
        content_type=content_type,
        headers={"X-CSRFToken": "a" * 32},
    )
    for response in (by_link, by_session):
        assert response.status_code == 400
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == "invalid_multipart"
    warnings = [r for r in caplog.records if "Malformed upload body" in r.getMessage()]
    assert [r.levelname for r in warnings] == ["WARNING", "WARNING"]
    assert not [r for r in caplog.records if r.name == "django.request"]
    assert Attachment.objects.get().uploaded_at is None
    uploaded = as_alice.upload(created["upload_descriptor"]["url"], b"abc", "a.txt", "text/plain")
    assert uploaded.status_code == 200


def test_a_bogus_link_token_does_not_skip_the_csrf_check_of_a_session(alice):
    created = User(alice).create("a.txt", "text/plain", 3).json()
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    path = f"/chatkit/attachments/{created['id']}/upload"
    for token in ("bogus", "", created["upload_descriptor"]["url"].split("token=")[1][:-3]):
        file = SimpleUploadedFile("a.txt", b"abc", content_type="text/plain")
        response = client.post(f"{path}?token={token}", {"file": file})
        assert response.status_code == 404, token
        assert response.json()["error"]["code"] == "not_found"
    assert Attachment.objects.get().uploaded_at is None


def test_a_bogus_link_token_is_refused_even_beside_a_valid_session(as_alice, alice):
    attachment = as_alice.attach(b"hello", "a.txt", "text/plain")
    client = Client()
    client.force_login(alice)
    path = f"/chatkit/attachments/{attachment['id']}/file"
    assert client.get(path).status_code == 200
    assert client.get(f"{path}?token=bogus").status_code == 404


def test_an_attachment_whose_file_is_gone_is_a_json_410_and_one_warning(
    as_alice, alice, media, caplog
):
    attachment = as_alice.attach(png())
    row = Attachment.objects.get()
    (media / row.file.name).unlink()
    (media / row.preview.name).unlink()
    client = Client()
    client.force_login(alice)
    caplog.clear()
    for purpose in ("file", "preview"):
        response = client.get(f"/chatkit/attachments/{attachment['id']}/{purpose}")
        assert response.status_code == 410
        assert response.json()["error"]["code"] == "file_gone"
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.levelname for r in records] == ["WARNING", "WARNING"]
    assert all(attachment["id"] in r.getMessage() and not r.exc_info for r in records)


def test_a_link_stops_working_once_its_owner_is_deactivated(as_alice, alice):
    attachment = as_alice.attach(png())
    path = attachment["preview_url"].split("testserver", 1)[1]
    assert Client().get(path).status_code == 200
    alice.is_active = False
    alice.save()
    response = Client().get(path)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "inactive_user"
