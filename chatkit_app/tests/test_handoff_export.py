"""A conversation a person took over, through ``chatkit_export`` and
``chatkit_import``: the staff replies (named as from that person) and the
handoff come back exactly; the chat-format export for evaluation or
fine-tuning leaves staff replies out unless asked to keep them."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError

from chatkit_app.models import Handoff, Message

from .chatkit_client import ApiClient, add_message
from .test_chatkit_export_import import export, import_file, wipe
from .test_handoff import dana as dana
from .test_handoff import hand_back, reply, staff_client, take_over
from .usage_limits import answers as answers

pytestmark = pytest.mark.django_db


@pytest.fixture
def handed_back(answers, alice, dana) -> str:
    """Alice asked, the assistant answered, Dana took over and replied to
    Alice's next message, then handed back and the assistant answered again."""
    api = ApiClient(alice)
    thread_id, _ = api.start("My parcel is lost")
    staff = staff_client(dana)
    take_over(staff, thread_id)
    api(add_message(thread_id, "Can a person look?"))
    assert reply(staff, thread_id, "Dana here: it ships today.").status_code == 201
    hand_back(staff, thread_id)
    api(add_message(thread_id, "Thanks"))
    return thread_id


def test_staff_replies_and_the_handoff_round_trip_through_export_and_import(handed_back, tmp_path):
    first = export()
    (record,) = [json.loads(line) for line in first.splitlines()]
    handoff = record["handoff"]
    assert handoff["state"] == "handed_back"
    assert handoff["taken_over_by"] == "dana"
    assert handoff["taken_over_at"] < handoff["handed_back_at"]
    person = [
        item
        for item in record["items"]
        if item["type"] == "assistant_message" and item["content"][0].get("annotations")
    ]
    (staff_reply,) = person
    source = staff_reply["content"][0]["annotations"][0]["source"]
    assert source["data"] == {"chatkit_person": "Dana Scully"}
    assert staff_reply["content"][1]["text"] == "Dana here: it ships today."
    rows_before = list(Message.objects.order_by("sequence").values_list("id", "role", "text"))
    handoff_before = Handoff.objects.values().get()

    wipe()
    assert not Handoff.objects.exists()
    path = tmp_path / "export.jsonl"
    path.write_text(first)
    out, _ = import_file(path)

    assert out.strip() == "Imported 1 conversations; skipped 0 already present."
    assert export() == first
    assert list(Message.objects.order_by("sequence").values_list("id", "role", "text")) == (
        rows_before
    )
    imported = Handoff.objects.values().get()
    # The staff member is a new user of the same name (ids differ).
    assert {**imported, "taken_over_by_id": None} == {**handoff_before, "taken_over_by_id": None}
    assert Handoff.objects.get().taken_over_by.username == "dana"


def test_a_conversation_still_taken_over_imports_taken_over(answers, alice, dana, tmp_path):
    api = ApiClient(alice)
    thread_id, _ = api.start("Hello")
    take_over(staff_client(dana), thread_id)
    first = export()
    wipe()
    path = tmp_path / "export.jsonl"
    path.write_text(first)
    import_file(path)
    handoff = Handoff.objects.get(pk=thread_id)
    assert (handoff.state, handoff.taken_over_by.username) == ("taken_over", "dana")
    assert handoff.handed_back_at is None


def test_an_unknown_handoff_state_is_refused_and_stores_nothing(handed_back, tmp_path):
    (record,) = [json.loads(line) for line in export().splitlines()]
    wipe()
    record["handoff"]["state"] = "sleeping"
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(CommandError):
        import_file(path)
    assert "unknown handoff state 'sleeping'" in import_file.stderr  # type: ignore[attr-defined]
    assert not Message.objects.exists()


def chat(*args: str) -> list[dict[str, str]]:
    (line,) = export("--format", "openai-jsonl", *args).splitlines()
    return json.loads(line)["messages"]


def test_openai_jsonl_leaves_staff_replies_out_unless_asked(handed_back):
    assert chat() == [
        {"role": "user", "content": "My parcel is lost"},
        {"role": "assistant", "content": "Echo: My parcel is lost"},
        {"role": "user", "content": "Can a person look?"},
        {"role": "user", "content": "Thanks"},
        {"role": "assistant", "content": "Echo: Thanks"},
    ]
    with_staff = chat("--include-staff-replies")
    assert with_staff[3] == {"role": "assistant", "content": "Dana here: it ships today."}
    assert len(with_staff) == 6


def test_include_staff_replies_without_openai_jsonl_is_a_clear_error(db):
    with pytest.raises(CommandError, match="--include-staff-replies goes with --format"):
        export("--include-staff-replies")


def test_the_markdown_export_names_the_person_and_the_handoff(handed_back):
    text = export("--format", "md")
    assert "### Dana Scully (a person, not the assistant)" in text
    assert "- **Handoff to a person:** taken over by dana " in text
    assert "; handed back " in text
