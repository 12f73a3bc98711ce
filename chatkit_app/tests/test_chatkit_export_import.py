"""``chatkit_export`` and ``chatkit_import``: a lossless, idempotent round trip."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chatkit_app.models import Attachment, Conversation, Feedback, Message, ModelUsage

from .chatkit_client import post_chatkit
from .seed_conversations import bulk_conversations, full_conversation
from .thread_items import every_thread_item

pytestmark = pytest.mark.django_db


def export(*args: str) -> str:
    out = StringIO()
    call_command("chatkit_export", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def import_file(path, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("chatkit_import", str(path), *args, stdout=out, stderr=err)
    finally:
        import_file.stderr = err.getvalue()  # type: ignore[attr-defined]
    return out.getvalue(), err.getvalue()


def wipe() -> None:
    """An empty database: no conversations, and none of their users."""
    Conversation.objects.all().delete()
    ModelUsage.objects.all().delete()
    Attachment.objects.all().delete()
    get_user_model().objects.all().delete()


def test_export_import_into_an_empty_database_and_export_again_is_identical(alice, bob, tmp_path):
    conversation = full_conversation(alice)
    Conversation.objects.filter(pk=conversation.pk).update(
        status="locked", status_reason="Under review", allowed_image_domains=["example.org"]
    )
    bulk_conversations(bob, conversations=3, items_each=4, prefix="b")
    first = export()
    stored_file = Attachment.objects.get(pk="atc_f").file.name
    messages_before = {
        m.pk: (m.sequence, m.type, m.role, m.text, m.interrupted, m.created_at)
        for m in Message.objects.all()
    }

    wipe()
    assert not Message.objects.exists()
    path = tmp_path / "all.jsonl"
    path.write_text(first)
    out, _ = import_file(path)

    assert out.strip() == "Imported 4 conversations; skipped 0 already present."
    assert export() == first
    # The query columns are rebuilt exactly too.
    assert {
        m.pk: (m.sequence, m.type, m.role, m.text, m.interrupted, m.created_at)
        for m in Message.objects.all()
    } == messages_before
    # The row points at the same stored file again (files are not in the export).
    assert Attachment.objects.get(pk="atc_f").file.name == stored_file
    assert Feedback.objects.get().user.username == "alice"


def test_imported_conversations_work_in_the_chat_for_their_owner(alice, tmp_path):
    full_conversation(alice)
    path = tmp_path / "one.jsonl"
    path.write_text(export())
    wipe()

    import_file(path)

    owner = get_user_model().objects.get(username="alice")
    assert not owner.has_usable_password()
    listed = post_chatkit(
        {"type": "items.list", "params": {"thread_id": "thr_full", "limit": 50, "order": "asc"}},
        login=owner,
    ).json()
    # Everything but the hidden context items, which the SDK never lists.
    shown = [item.id for item in every_thread_item("thr_full", prefix="full")]
    shown = [i for i in shown if not i.endswith(("_hidden", "_sdkhidden"))]
    assert [item["id"] for item in listed["data"]] == shown


def test_importing_twice_adds_nothing(alice, tmp_path):
    full_conversation(alice)
    path = tmp_path / "one.jsonl"
    path.write_text(export())
    wipe()

    import_file(path)
    counts = (Conversation.objects.count(), Message.objects.count(), ModelUsage.objects.count())
    out, _ = import_file(path)

    assert out.strip() == "Imported 0 conversations; skipped 1 already present."
    assert (
        Conversation.objects.count(),
        Message.objects.count(),
        ModelUsage.objects.count(),
    ) == counts


def test_a_bad_line_is_reported_by_number_and_the_others_are_imported(alice, tmp_path):
    bulk_conversations(alice, conversations=2, items_each=2)
    good = export().splitlines()
    broken = json.loads(good[1])
    broken["items"][1]["type"] = "no_such_item"
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join([good[0], "{not json", json.dumps(broken), ""]))
    wipe()

    with pytest.raises(CommandError, match="2 line"):
        import_file(path)

    errors = import_file.stderr  # type: ignore[attr-defined]
    assert "line 2: not JSON" in errors
    assert "line 3: item 2 is not a ChatKit thread item" in errors
    assert list(Conversation.objects.values_list("pk", flat=True)) == ["thr_bulk00000"]
    # Nothing of the broken conversation was stored.
    assert not Message.objects.filter(conversation_id="thr_bulk00001").exists()


def test_an_item_id_owned_by_another_conversation_is_refused(alice, tmp_path):
    bulk_conversations(alice, conversations=1, items_each=2)
    record = json.loads(export())
    record["id"] = "thr_other"
    for item in record["items"]:
        item["thread_id"] = "thr_other"
    path = tmp_path / "clash.jsonl"
    path.write_text(json.dumps(record) + "\n")

    with pytest.raises(CommandError):
        import_file(path)

    assert "already used by another conversation" in import_file.stderr  # type: ignore[attr-defined]
    assert not Conversation.objects.filter(pk="thr_other").exists()


def test_a_missing_file_is_a_clear_error(db, tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        import_file(tmp_path / "nope.jsonl")


def test_export_filters_by_user_and_activity_date(alice, bob):
    bulk_conversations(alice, conversations=2, items_each=1, prefix="a")
    bulk_conversations(bob, conversations=2, items_each=1, prefix="b")
    Conversation.objects.filter(pk="thr_b00001").update(
        updated_at=timezone.now() - timedelta(days=30)
    )

    def ids(*args: str) -> list[str]:
        return [json.loads(line)["id"] for line in export(*args).splitlines()]

    assert ids("--user", "alice") == ["thr_a00000", "thr_a00001"]
    since = (timezone.now() - timedelta(days=7)).date().isoformat()
    assert ids("--since", since) == ["thr_a00000", "thr_a00001", "thr_b00000"]
    assert ids("--user", "bob", "--since", since) == ["thr_b00000"]


def test_export_rejects_unknown_users_and_bad_dates(db):
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        export("--user", "nobody")
    with pytest.raises(CommandError, match="--since 'last tuesday'"):
        export("--since", "last tuesday")


def test_export_as_markdown_reads_like_the_conversation(alice):
    full_conversation(alice)
    text = export("--format", "md")
    assert text.startswith("# Groceries and weather\n")
    assert "- **Owner:** alice" in text
    assert "### Assistant (interrupted)" in text
    assert "- **Source:** Docs (https://example.org)" in text
    assert '"precise": true' in text
    assert "- **Tokens:** 120 in, 45 out" in text


def test_export_writes_to_a_file(alice, tmp_path):
    bulk_conversations(alice, conversations=3, items_each=1)
    err = StringIO()
    path = tmp_path / "out.jsonl"

    call_command("chatkit_export", "--output", str(path), stdout=StringIO(), stderr=err)

    assert len(path.read_text().splitlines()) == 3
    assert f"Exported 3 conversations to {path}." in err.getvalue()


def test_export_streams_in_batches_with_a_fixed_number_of_queries_each(alice):
    bulk_conversations(alice, conversations=25, items_each=3)

    with CaptureQueriesContext(connection) as captured:
        lines = export("--batch-size", "10").splitlines()

    assert len(lines) == 25
    # count + 3 batches x (conversations, feedback, usage, annotations,
    # attachments, items) + the empty 4th batch: never one query per conversation.
    assert len(captured) <= 1 + 3 * 6 + 1
