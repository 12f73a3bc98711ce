"""Human handoff over HTTP: staff take a conversation over from the watch
page, the assistant then makes no model call, staff replies are stored as
items naming the person, hand-back lets the assistant answer again, the
"ask for a person" tool flags the thread for the activity feed and the
review queue, and view-only staff see the state but cannot act."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from chatkit_app.handoff.selectors import conversations_handoff_requested
from chatkit_app.handoff.services import handoff_request
from chatkit_app.live.catch_up import activity_since
from chatkit_app.models import Handoff, Message

from .chatkit_client import ApiClient, add_message, events_of, streamed_text

pytestmark = pytest.mark.django_db


def admin_path(thread_id: str, action: str) -> str:
    return f"/admin/chatkit_app/conversation/{thread_id.replace('_', '_5F')}/{action}/"


def staff_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def staff_member(username: str, *codenames: str, first_name: str = "") -> Any:
    user = get_user_model().objects.create_user(
        username, password="x", is_staff=True, first_name=first_name
    )
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def dana(db):
    """Support staff who may change conversations, named Dana Scully."""
    user = staff_member("dana", "view_conversation", "change_conversation", first_name="Dana")
    user.last_name = "Scully"
    user.save()
    return user


@pytest.fixture
def erin(db):
    """Staff who may only view conversations."""
    return staff_member("erin", "view_conversation")


def take_over(client: Client, thread_id: str):
    return client.post(admin_path(thread_id, "handoff/take-over"))


def reply(client: Client, thread_id: str, text: Any):
    return client.post(
        admin_path(thread_id, "handoff/reply"),
        data=json.dumps({"text": text}),
        content_type="application/json",
    )


def hand_back(client: Client, thread_id: str):
    return client.post(admin_path(thread_id, "handoff/hand-back"))


def test_while_a_person_has_taken_over_the_assistant_makes_no_model_call(provider, alice, dana):
    api = ApiClient(alice)
    thread_id, _ = api.start("Hello")
    assert len(provider.answer_requests()) == 1
    response = take_over(staff_client(dana), thread_id)
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "taken_over"
    provider.reset()

    events = api(add_message(thread_id, "Is anyone there?")).events()

    assert provider.answer_requests() == [], "no model call while a person answers"
    assert streamed_text(events) == ""
    (notice,) = events_of(events, "notice")
    assert notice["title"] == "Dana Scully is answering"
    assert "has taken over this conversation" in notice["message"]
    stored = list(Message.objects.filter(conversation_id=thread_id).values_list("type", "text"))
    assert stored[-1] == ("user_message", "Is anyone there?")
    assert [kind for kind, _ in stored].count("assistant_message") == 1


def test_a_staff_reply_is_an_item_naming_the_person_and_the_assistant_reads_it_after_hand_back(
    provider, alice, dana
):
    api = ApiClient(alice)
    thread_id, _ = api.start("My parcel is lost")
    staff = staff_client(dana)
    take_over(staff, thread_id)

    response = reply(staff, thread_id, "  I found it: it ships *today*.  ")
    assert response.status_code == 201, response.content

    row = Message.objects.get(pk=response.json()["item_id"])
    assert (row.type, row.role) == ("assistant_message", "person")
    header, text = row.data["content"]
    assert header["text"] == "**Dana Scully** · a person from the team\n\n"
    source = header["annotations"][0]["source"]
    assert source["type"] == "entity"
    assert source["data"] == {"chatkit_person": "Dana Scully"}
    assert text["text"] == "I found it: it ships *today*."
    # The user's client reads it through the protocol, unchanged.
    listing = {"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}}
    items = api(listing).json()["data"]
    sent_header, sent_text = items[-1]["content"]
    assert sent_header["annotations"][0]["source"]["data"] == {"chatkit_person": "Dana Scully"}
    assert (sent_header["text"], sent_text["text"]) == (header["text"], text["text"])

    assert hand_back(staff, thread_id).json()["state"] == "handed_back"
    provider.reset()
    provider.reply("Glad it turned up!")
    events = api(add_message(thread_id, "Thanks!")).events()

    assert streamed_text(events) == "Glad it turned up!"
    (request,) = provider.answer_requests()
    said = [text for role, text in request.messages() if role == "assistant"]
    assert any("Dana Scully" in each and "ships *today*" in each for each in said), said
    actions = list(LogEntry.objects.values_list("change_message", flat=True))
    assert actions == ["Handed back to the assistant.", "Taken over from the assistant."]


def test_the_ask_for_a_person_tool_flags_the_thread_for_the_feed_and_the_queue(provider, alice):
    provider.call_tools(("ask_for_person", {"reason": "wants a refund"}))
    provider.reply("Someone from the team will join you here shortly.")
    api = ApiClient(alice)

    thread_id, events = api.start("I want to talk to a human")

    assert streamed_text(events) == "Someone from the team will join you here shortly."
    assert "asked to join" in str(provider.answer_requests()[1].body), "the tool's output"
    handoff = Handoff.objects.get(pk=thread_id)
    assert (handoff.state, handoff.request_reason) == ("requested", "wants a refund")
    assert [c.pk for c in conversations_handoff_requested()] == [thread_id]
    (entry,) = [e for e in activity_since(since=None) if e["kind"] == "handoff.requested"]
    assert entry["user"] == "alice"
    assert entry["reason"] == "wants a refund"
    assert entry["watch_url"].endswith("/watch/")


def test_a_taken_over_thread_leaves_the_review_queue_and_asking_again_changes_nothing(
    provider, alice, dana
):
    provider.call_tools(("ask_for_person", {}))
    provider.reply("Someone will join.")
    thread_id, _ = ApiClient(alice).start("A human, please")
    take_over(staff_client(dana), thread_id)

    assert list(conversations_handoff_requested()) == []
    handoff = handoff_request(owner=alice, conversation_id=thread_id, reason="again")
    assert handoff.state == "taken_over"


def test_view_only_staff_see_who_answers_but_get_no_button_and_a_403(provider, alice, dana, erin):
    thread_id, _ = ApiClient(alice).start("Hello")
    take_over(staff_client(dana), thread_id)
    viewer = staff_client(erin)

    page = viewer.get(admin_path(thread_id, "watch"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "ck-handoff-take" not in html
    assert "ck-handoff-reply" not in html
    assert "taking it over needs permission to change conversations" in html
    config = page.context["handoff_config"]
    assert config["state"]["state"] == "taken_over"
    assert config["state"]["person"] == "Dana Scully"

    for response in (
        take_over(viewer, thread_id),
        reply(viewer, thread_id, "Hi, Erin here"),
        hand_back(viewer, thread_id),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
    assert Handoff.objects.get(pk=thread_id).taken_over_by == dana
    assert not Message.objects.filter(conversation_id=thread_id, role="person").exists()


def test_staff_who_may_change_conversations_get_the_buttons(provider, alice, dana):
    thread_id, _ = ApiClient(alice).start("Hello")
    html = staff_client(dana).get(admin_path(thread_id, "watch")).content.decode()
    assert "ck-handoff-take" in html
    assert "ck-handoff-reply" in html


def test_a_colleague_cannot_take_over_what_someone_else_holds(provider, alice, dana, charlie):
    thread_id, _ = ApiClient(alice).start("Hello")
    take_over(staff_client(dana), thread_id)

    response = take_over(staff_client(charlie), thread_id)

    assert response.status_code == 409
    assert response.json()["error"]["message"] == "dana has already taken this conversation over."
    # Taking over again what one holds is fine.
    assert take_over(staff_client(dana), thread_id).status_code == 200


def test_bad_handoff_requests_get_clear_json_errors(provider, alice, dana):
    thread_id, _ = ApiClient(alice).start("Hello")
    staff = staff_client(dana)

    def error(response) -> tuple[int, str]:
        return response.status_code, response.json()["error"]["code"]

    assert error(reply(staff, thread_id, "Too early")) == (409, "handoff_conflict")
    assert error(hand_back(staff, thread_id)) == (409, "handoff_conflict")
    assert error(staff.get(admin_path(thread_id, "handoff/take-over"))) == (
        405,
        "method_not_allowed",
    )
    assert error(take_over(staff, "thr_nope")) == (404, "not_found")
    take_over(staff, thread_id)
    assert error(reply(staff, thread_id, "   ")) == (400, "invalid_reply")
    assert error(reply(staff, thread_id, 42)) == (400, "invalid_reply")
    assert error(reply(staff, thread_id, "x" * 10_001)) == (400, "invalid_reply")
    assert error(reply(staff, thread_id, "nul \x00 here")) == (400, "invalid_reply")
    bad_json = staff.post(
        admin_path(thread_id, "handoff/reply"), data="{", content_type="application/json"
    )
    assert error(bad_json) == (400, "invalid_reply")
    assert not Message.objects.filter(conversation_id=thread_id, role="person").exists()


def test_the_transcript_names_the_person_who_replied(provider, alice, dana, charlie):
    thread_id, _ = ApiClient(alice).start("Hello")
    staff = staff_client(dana)
    take_over(staff, thread_id)
    reply(staff, thread_id, "Hi, Dana here.")

    page = staff_client(charlie).get(admin_path(thread_id, "change"))

    assert "Dana Scully (a person, not the assistant)" in page.content.decode()
