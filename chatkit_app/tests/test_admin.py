"""The Django admin: finding, reading and managing any conversation."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files.storage import default_storage

from chatkit_app.models import ApiToken, Attachment, Conversation, Feedback, Message
from chatkit_app.tokens import token_authenticate, token_create

from .chatkit_client import add_message, post_chatkit
from .seed_conversations import bulk_conversations, full_conversation

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/chatkit_app/conversation/"


def page(conversation_id: str) -> str:
    return f"{CHANGELIST}{quote(conversation_id)}/change/"


def action(client, name: str, *ids: str, **extra: str):
    return client.post(
        CHANGELIST, {"action": name, "_selected_action": list(ids), "index": 0, **extra}
    )


@pytest.fixture
def staff(client, charlie):
    client.force_login(charlie)
    return client


# --- the list -----------------------------------------------------------------------


def test_the_list_shows_title_owner_status_item_count_and_last_activity(staff, alice, bob):
    full_conversation(alice)
    bulk_conversations(bob, conversations=2, items_each=3, prefix="b")

    html = staff.get(CHANGELIST).content.decode()

    assert "Groceries and weather" in html
    assert 'href="/admin/chatkit_app/conversation/?owner=alice">alice</a>' in html
    assert '<td class="field-message_count">11</td>' in html
    assert html.count('<td class="field-message_count">3</td>') == 2
    assert "Last activity" in html
    assert "Active" in html


def test_it_filters_by_status_owner_and_date(staff, alice, bob):
    full_conversation(alice)
    bulk_conversations(bob, conversations=2, items_each=1, prefix="b")
    Conversation.objects.filter(pk="thr_b00001").update(status="closed")
    Conversation.objects.filter(pk="thr_b00000").update(updated_at="2020-01-01T00:00:00Z")

    def listed(query: str) -> set[str]:
        response = staff.get(CHANGELIST + query)
        assert response.status_code == 200
        return {row.pk for row in response.context["cl"].result_list}

    assert listed("?status__exact=closed") == {"thr_b00001"}
    assert listed("?owner=bob") == {"thr_b00000", "thr_b00001"}
    assert listed("?owner=alice&status__exact=active") == {"thr_full"}
    assert listed("?updated_at__year=2020") == {"thr_b00000"}
    assert listed("?owner=nobody") == set()


def test_the_owner_filter_keeps_the_other_filters(staff, alice):
    full_conversation(alice)
    html = staff.get(CHANGELIST + "?status__exact=active&q=docs").content.decode()
    # The owner box submits the status filter and the search along with it.
    assert '<input type="hidden" name="status__exact" value="active">' in html
    assert '<input type="hidden" name="q" value="docs">' in html


def test_search_finds_conversations_by_title_owner_and_message_text(staff, alice, bob):
    full_conversation(alice)
    bulk_conversations(bob, conversations=3, items_each=2, prefix="b", text="hello")
    Message.objects.filter(conversation_id="thr_b00002", sequence=2).update(
        text="the printer is on fire"
    )

    def found(term: str) -> set[str]:
        response = staff.get(CHANGELIST, {"q": term})
        assert response.status_code == 200
        return {row.pk for row in response.context["cl"].result_list}

    assert found("groceries") == {"thr_full"}
    assert found("bob") == {"thr_b00000", "thr_b00001", "thr_b00002"}
    assert found("PRINTER IS ON") == {"thr_b00002"}
    assert found("See the docs") == {"thr_full"}
    assert found("thr_b00001") == {"thr_b00001"}
    assert found("nothing like this") == set()


def test_the_list_has_no_add_button_and_pages_long_lists(staff, alice):
    bulk_conversations(alice, conversations=60, items_each=1)
    response = staff.get(CHANGELIST)
    assert f'href="{CHANGELIST}add/"' not in response.content.decode()
    assert staff.get(CHANGELIST + "add/").status_code == 403
    assert len(response.context["cl"].result_list) == 50
    assert "60 conversations" in response.content.decode()
    assert len(staff.get(CHANGELIST + "?p=2").context["cl"].result_list) == 10


# --- the conversation page ------------------------------------------------------------


def test_the_page_shows_the_transcript_the_way_a_person_reads_it(staff, alice):
    conversation = full_conversation(alice)

    html = staff.get(page(conversation.pk)).content.decode()

    transcript = html[html.index('aria-label="Transcript"') :]
    order = [
        "<strong>User</strong>",
        "Hello @Alice",
        "notes.txt",
        "<strong>Assistant</strong>",
        "See the docs.",
        "Docs (https://example.org)",
        "<strong>Tool call</strong>",
        "<code>get_location</code>",
        "&quot;precise&quot;: true",
        "<strong>Widget</strong>",
        "Text: Buy groceries",
        "Button: Done",
        "<strong>Generated image</strong>",
        "<strong>Questions</strong>",
        "Colour?",
        "<strong>Workflow</strong>",
        "Step — did it [complete]",
        "<strong>Hidden context</strong>",
        "<strong>End of turn</strong>",
    ]
    positions = [transcript.find(text) for text in order]
    assert -1 not in positions, [t for t, p in zip(order, positions, strict=True) if p == -1]
    assert positions == sorted(positions)
    assert "👍 positive from alice" in transcript
    assert "gpt-4.1-mini (response), 120 in / 45 out" in transcript
    assert "<em>interrupted</em>" in transcript
    assert "1 model call:" in transcript
    assert "120 input and 45 output tokens" in transcript


def test_the_page_is_read_only(staff, alice):
    conversation = full_conversation(alice)
    html = staff.get(page(conversation.pk)).content.decode()
    assert 'name="_save"' not in html
    assert 'name="title"' not in html

    # A forged save changes nothing.
    staff.post(page(conversation.pk), {"title": "hacked", "status": "closed"})
    conversation.refresh_from_db()
    assert (conversation.title, conversation.status) == ("Groceries and weather", "active")


def test_each_item_links_to_its_raw_json(staff, alice):
    conversation = full_conversation(alice)
    html = staff.get(page(conversation.pk)).content.decode()

    for message in Message.objects.filter(conversation=conversation):
        url = f"/admin/chatkit_app/message/{quote(message.pk)}/json/"
        assert f'href="{url}"' in html
        response = staff.get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert json.loads(response.content) == message.data


def test_raw_json_of_a_missing_item_is_404(staff):
    assert staff.get("/admin/chatkit_app/message/msg_nope/json/").status_code == 404


def test_a_long_transcript_comes_in_pages(staff, alice, monkeypatch):
    from chatkit_app.admin import ConversationAdmin

    monkeypatch.setattr(ConversationAdmin, "transcript_page_size", 4)
    bulk_conversations(alice, conversations=1, items_each=10, text="line")

    first = staff.get(page("thr_bulk00000")).content.decode()
    assert "line 1<" in first
    assert "line 4<" in first
    assert "line 5<" not in first
    assert 'href="?after=4"' in first

    last = staff.get(page("thr_bulk00000") + "?after=8").content.decode()
    assert "line 9<" in last
    assert "line 10<" in last
    assert "line 8<" not in last
    assert 'href="?after=' not in last

    # A mangled cursor shows the start rather than failing.
    assert "line 1<" in staff.get(page("thr_bulk00000") + "?after=x").content.decode()


# --- actions --------------------------------------------------------------------------


def test_locking_makes_the_chat_refuse_new_messages_and_is_logged(staff, alice, charlie):
    conversation = full_conversation(alice)

    response = action(staff, "lock", conversation.pk, reason="Under review")
    assert response.status_code == 302

    conversation.refresh_from_db()
    assert (conversation.status, conversation.status_reason) == ("locked", "Under review")
    refused = post_chatkit(add_message(conversation.pk, "hello?"), login=alice)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "thread_locked"
    thread = post_chatkit(
        {"type": "threads.get_by_id", "params": {"thread_id": conversation.pk}}, login=alice
    ).json()
    assert thread["status"] == {"type": "locked", "reason": "Under review"}

    entry = LogEntry.objects.get(object_id=conversation.pk)
    assert entry.action_flag == CHANGE
    assert entry.user == charlie
    assert entry.change_message == "Status set to locked: Under review"


def test_closing_and_reopening(staff, alice):
    conversation = full_conversation(alice)

    action(staff, "close", conversation.pk)
    conversation.refresh_from_db()
    assert conversation.status == "closed"
    assert post_chatkit(add_message(conversation.pk, "hi"), login=alice).status_code == 409

    action(staff, "unlock", conversation.pk, reason="ignored when reopening")
    conversation.refresh_from_db()
    assert (conversation.status, conversation.status_reason) == ("active", "")
    assert post_chatkit(add_message(conversation.pk, "hi"), login=alice).status_code == 200
    assert LogEntry.objects.filter(object_id=conversation.pk).count() == 2


def test_an_action_that_changes_nothing_logs_nothing(staff, alice):
    conversation = full_conversation(alice)
    response = action(staff, "unlock", conversation.pk)
    assert response.status_code == 302
    assert not LogEntry.objects.exists()


def test_the_page_has_status_buttons_that_run_the_actions(staff, alice):
    conversation = full_conversation(alice)
    html = staff.get(page(conversation.pk)).content.decode()
    assert '<input type="hidden" name="action" value="lock">' in html
    assert '<input type="hidden" name="action" value="close">' in html
    assert 'value="unlock"' not in html  # already active


def test_export_selected_as_json_lines(staff, alice, bob):
    full_conversation(alice)
    bulk_conversations(bob, conversations=2, items_each=2, prefix="b")

    response = action(staff, "export_jsonl", "thr_full", "thr_b00001")

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="conversations.jsonl"'
    records = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert [r["id"] for r in records] == ["thr_b00001", "thr_full"]
    full = records[1]
    stored = Message.objects.filter(conversation_id="thr_full").order_by("sequence")
    assert full["items"] == [m.data for m in stored]
    assert full["owner"] == "alice"
    assert full["feedback"][0]["kind"] == "positive"


def test_export_selected_as_markdown(staff, alice):
    full_conversation(alice)

    response = action(staff, "export_markdown", "thr_full")

    text = b"".join(response.streaming_content).decode()
    assert response["Content-Type"].startswith("text/markdown")
    assert text.startswith("# Groceries and weather\n")
    assert "### User" in text
    assert "Hello @Alice" in text
    assert "### Tool call: `get_location`" in text
    assert "- Text: Buy groceries" in text
    assert "*Feedback from alice: positive*" in text


def test_delete_asks_for_confirmation_with_counts_then_removes_items_and_files(
    staff, alice, charlie, django_capture_on_commit_callbacks
):
    conversation = full_conversation(alice)
    stored_file = Attachment.objects.get(pk="atc_f").file.name
    assert default_storage.exists(stored_file)

    confirm = staff.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [conversation.pk]}
    )
    html = confirm.content.decode()
    assert confirm.status_code == 200
    assert "Are you sure" in html
    assert "Messages: 11" in html
    assert "Attachments: 2" in html

    with django_capture_on_commit_callbacks(execute=True):
        done = staff.post(
            CHANGELIST,
            {"action": "delete_selected", "_selected_action": [conversation.pk], "post": "yes"},
        )
    assert done.status_code == 302
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()
    assert not Feedback.objects.exists()
    assert not default_storage.exists(stored_file)
    entry = LogEntry.objects.get()
    assert (entry.action_flag, entry.object_id, entry.user) == (DELETION, "thr_full", charlie)


def test_deleting_from_the_page_also_removes_files(
    staff, alice, django_capture_on_commit_callbacks
):
    conversation = full_conversation(alice)
    stored_file = Attachment.objects.get(pk="atc_f").file.name
    url = f"{CHANGELIST}{conversation.pk}/delete/"

    assert "Messages: 11" in staff.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert staff.post(url, {"post": "yes"}).status_code == 302

    assert not Conversation.objects.exists()
    assert not default_storage.exists(stored_file)
    assert LogEntry.objects.get().action_flag == DELETION


# --- permissions ----------------------------------------------------------------------


def staff_member(username: str, *codenames: str):
    user = get_user_model().objects.create_user(username, password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def test_staff_without_the_view_permission_cannot_read_transcripts(client, alice):
    conversation = full_conversation(alice)
    client.force_login(staff_member("dave"))

    assert client.get(CHANGELIST).status_code == 403
    assert client.get(page(conversation.pk)).status_code == 403
    assert client.get(f"/admin/chatkit_app/message/{conversation.pk}_x/json/").status_code == 403
    assert client.get("/admin/chatkit_app/message/full_user/json/").status_code == 403
    assert action(client, "export_jsonl", conversation.pk).status_code == 403


def test_staff_with_only_the_view_permission_read_but_cannot_change(client, alice):
    conversation = full_conversation(alice)
    client.force_login(staff_member("erin", "view_conversation"))

    html = client.get(page(conversation.pk)).content.decode()
    assert "Hello @Alice" in html
    # No raw JSON links (that needs view_message) and no status buttons.
    assert "/json/" not in html
    assert 'name="action"' not in html

    choices = dict(client.get(CHANGELIST).context["action_form"].fields["action"].choices)
    assert "export_jsonl" in choices
    assert "lock" not in choices
    assert "delete_selected" not in choices
    action(client, "lock", conversation.pk)
    conversation.refresh_from_db()
    assert conversation.status == "active"


def test_deleting_needs_permission_to_delete_the_items_too(client, alice):
    conversation = full_conversation(alice)
    client.force_login(staff_member("frank", "view_conversation", "delete_conversation"))

    html = client.get(f"{CHANGELIST}{conversation.pk}/delete/").content.decode()
    assert "would require deleting the following protected related objects" in html or (
        "your account doesn't have permission to delete the following types of objects" in html
    )
    client.post(f"{CHANGELIST}{conversation.pk}/delete/", {"post": "yes"})
    assert Conversation.objects.filter(pk=conversation.pk).exists()


# --- items, feedback, usage, attachments, tokens -----------------------------------------


def test_item_feedback_usage_and_attachment_lists_link_to_their_conversation(staff, alice):
    full_conversation(alice)
    conversation_url = f'href="{page("thr_full")}"'
    for model in ("message", "feedback", "modelusage", "attachment"):
        response = staff.get(f"/admin/chatkit_app/{model}/")
        assert response.status_code == 200, model
        assert conversation_url in response.content.decode(), model


def test_items_are_searchable_and_filterable(staff, alice):
    full_conversation(alice)

    def listed(query: dict) -> set[str]:
        response = staff.get("/admin/chatkit_app/message/", query)
        return {row.pk for row in response.context["cl"].result_list}

    assert listed({"q": "see the docs"}) == {"full_assistant"}
    assert listed({"type": "client_tool_call"}) == {"full_tool"}
    assert listed({"role": "user"}) == {"full_user"}
    assert listed({"interrupted__exact": "1"}) == {"full_assistant"}
    assert listed({"q": "full_end"}) == {"full_end"}


def test_usage_is_filterable_by_provider_model_and_outcome(staff, alice):
    full_conversation(alice)

    def count(query: dict) -> int:
        return len(staff.get("/admin/chatkit_app/modelusage/", query).context["cl"].result_list)

    assert count({"provider": "openai"}) == 1
    assert count({"provider": "gemini"}) == 0
    assert count({"model": "gpt-4.1-mini"}) == 1
    assert count({"failed": "yes"}) == 0
    assert count({"user": "alice"}) == 1


def test_item_pages_are_read_only_and_show_the_json(staff, alice):
    full_conversation(alice)
    html = staff.get("/admin/chatkit_app/message/full_tool/change/").content.decode()
    assert "get_location" in html
    assert f'href="/admin/chatkit_app/message/{quote("full_tool")}/json/"' in html
    assert 'name="_save"' not in html
    assert staff.get("/admin/chatkit_app/message/add/").status_code == 403


def test_tokens_are_listed_without_the_secret_and_cannot_be_added(staff, alice):
    token, raw = token_create(user=alice, name="laptop")

    html = staff.get("/admin/chatkit_app/apitoken/").content.decode()

    assert f"{token.prefix}…" in html
    assert "laptop" in html
    assert raw not in html
    assert token.digest not in html
    assert staff.get("/admin/chatkit_app/apitoken/add/").status_code == 403
    assert raw not in staff.get(f"/admin/chatkit_app/apitoken/{token.pk}/change/").content.decode()


def test_revoking_tokens_from_the_admin_disables_them_and_is_logged(staff, alice, charlie):
    token, raw = token_create(user=alice)
    _, kept_raw = token_create(user=alice)

    staff.post(
        "/admin/chatkit_app/apitoken/",
        {"action": "revoke", "_selected_action": [token.pk], "index": 0},
    )

    assert token_authenticate(raw) is None
    assert token_authenticate(kept_raw) is not None
    entry = LogEntry.objects.get()
    assert (entry.object_id, entry.change_message, entry.user) == (
        str(token.pk),
        "Revoked.",
        charlie,
    )
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
