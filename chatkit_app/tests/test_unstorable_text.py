"""Text no database stores (NUL, unpaired surrogates) is a 400 at the door,
and a stream that fails once it has begun still ends, with an error event,
leaving no empty thread behind. Over HTTP against a real daphne process, on
SQLite and on PostgreSQL (where NUL used to hang the stream)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from chatkit.types import ThreadMetadata
from django.db import connection
from django.test import Client
from django.utils import timezone

from chatkit_app.models import Conversation, Message
from chatkit_app.services import conversation_save

from .chatkit_client import add_message, create_thread, parse_sse, user_input
from .live_daphne import start_daphne, token_client
from .stored import snapshot

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

NUL = "\x00"
SURROGATE = "\ud800"
REFUSED = "refused-by-trigger"  # no message with this is stored, nor this title
REPLY_REFUSED = "reply-refused"  # no reply with this is stored


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    with start_daphne() as live:
        yield live


@pytest.fixture
def http(server, alice) -> Iterator[httpx.Client]:
    with token_client(server, alice, timeout=20) as client:
        yield client


def post(http: httpx.Client, body: dict) -> httpx.Response:
    # json.dumps writes NUL as \u0000 and a lone surrogate as \ud800: valid JSON.
    return http.post("/chatkit", content=json.dumps(body))


def thread_of(user, thread_id: str = "thr_existing") -> str:
    conversation_save(owner=user, thread=ThreadMetadata(id=thread_id, created_at=timezone.now()))
    return thread_id


BAD_BODIES = {
    "a NUL in a new message": lambda bad: create_thread(f"Hello{bad}there"),
    "a NUL in a message to a thread": lambda bad: add_message("thr_existing", f"a{bad}b"),
    "a NUL in a title": lambda bad: {
        "type": "threads.update",
        "params": {"thread_id": "thr_existing", "title": f"Title{bad}"},
    },
    "a NUL in an attachment name": lambda bad: {
        "type": "attachments.create",
        "params": {"name": f"photo{bad}.png", "size": 10, "mime_type": "image/png"},
    },
    "a NUL in an id": lambda bad: {
        "type": "threads.get_by_id",
        "params": {"thread_id": f"thr_{bad}"},
    },
    "a NUL in a metadata key": lambda bad: {
        "type": "threads.create",
        "params": {"input": user_input("Hi")},
        "metadata": {f"key{bad}": "value"},
    },
    "a NUL in a tag's data": lambda bad: create_thread(
        "Hi", content=[{"type": "input_tag", "id": "t", "text": "x", "data": {"v": bad}}]
    ),
}


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_text_no_database_stores_is_a_400_that_changes_nothing(http, alice, case, bad):
    thread_of(alice)
    before = snapshot()
    response = post(http, BAD_BODIES[case](bad))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_text"
    assert "NUL characters or unpaired surrogates" in error["message"]
    assert bad not in error["message"]
    assert snapshot() == before


@pytest.mark.parametrize("separator", ["\x85", "\u2028", "\u2029", "\x1c", "\x0b"], ids=repr)
def test_a_line_separator_inside_a_message_is_stored_and_streamed_back_whole(
    http, alice, separator
):
    # Valid text, and valid inside an SSE data line: only CR and LF end one
    # (a parser that splits where str.splitlines does reads broken JSON).
    text = f"one{separator}two"
    response = post(http, create_thread(text))
    assert response.status_code == 200, response.text
    users = [
        event["item"]
        for event in parse_sse(response.content)
        if event["type"] == "thread.item.done" and event["item"]["type"] == "user_message"
    ]
    assert [item["content"][0]["text"] for item in users] == [text]
    assert Message.objects.get(id=users[0]["id"]).text == text


def test_a_nul_in_a_url_is_a_400_in_json(server, http, alice):
    staff = Client()
    alice.is_staff = alice.is_superuser = True
    alice.save()
    staff.force_login(alice)
    session = {"sessionid": staff.cookies["sessionid"].value}
    admin = httpx.Client(base_url=server.url, cookies=session, timeout=20)
    responses = [
        http.get("/chatkit/attachments/atc_%00/file"),
        http.get("/chatkit/entities", params={"q": f"a{NUL}"}),
        admin.get("/admin/chatkit_app/conversation/thr_%00/change/"),
    ]
    for response in responses:
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_text"


@pytest.fixture
def refusing_database():
    """Triggers that make the database refuse some writes (see REFUSED): a
    failure the server meets half-way through a request, as it would meet a
    real one."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "CREATE TRIGGER refuse_message BEFORE INSERT ON chatkit_app_message "
                f"WHEN NEW.text LIKE '%{REFUSED}%' "
                f"OR (NEW.role = 'assistant' AND NEW.text LIKE '%{REPLY_REFUSED}%') "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
            cursor.execute(
                "CREATE TRIGGER refuse_title BEFORE UPDATE ON chatkit_app_conversation "
                f"WHEN NEW.title = '{REFUSED}' "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        else:
            refuse = "RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation'"
            cursor.execute(
                "CREATE FUNCTION refuse_message() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.text LIKE '%{REFUSED}%' "
                f"OR (NEW.role = 'assistant' AND NEW.text LIKE '%{REPLY_REFUSED}%') "
                f"THEN {refuse}; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE FUNCTION refuse_title() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.title = '{REFUSED}' THEN {refuse}; END IF; RETURN NEW; "
                "END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER refuse_message BEFORE INSERT ON chatkit_app_message "
                "FOR EACH ROW EXECUTE FUNCTION refuse_message()"
            )
            cursor.execute(
                "CREATE TRIGGER refuse_title BEFORE UPDATE ON chatkit_app_conversation "
                "FOR EACH ROW EXECUTE FUNCTION refuse_title()"
            )
    yield
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("DROP TRIGGER refuse_message")
            cursor.execute("DROP TRIGGER refuse_title")
        else:
            cursor.execute("DROP TRIGGER refuse_message ON chatkit_app_message")
            cursor.execute("DROP TRIGGER refuse_title ON chatkit_app_conversation")
            cursor.execute("DROP FUNCTION refuse_message(), refuse_title()")


def test_a_new_thread_whose_stream_fails_ends_with_an_error_and_is_not_left_empty(
    http, alice, refusing_database
):
    # The SDK has announced the thread before the database refuses the message.
    response = post(http, create_thread(f"Please store {REFUSED}"))
    assert response.status_code == 200
    events = parse_sse(response.content)
    assert events[0]["type"] == "thread.created"
    assert events[-1] == {"type": "error", "code": "stream.error", "allow_retry": True}
    assert not Conversation.objects.filter(pk=events[0]["thread"]["id"]).exists()

    # The site goes on.
    again = parse_sse(post(http, create_thread("Now a normal message")).content)
    assert again[-1]["type"] != "error"
    assert list(Conversation.objects.values_list("pk", flat=True)) == [again[0]["thread"]["id"]]


def test_a_stream_that_fails_after_the_users_message_keeps_it(http, alice, refusing_database):
    thread_id = parse_sse(post(http, create_thread("First")).content)[0]["thread"]["id"]
    # The reply echoes the message: storing the reply fails, inside the SDK.
    events = parse_sse(post(http, add_message(thread_id, f"Echo {REPLY_REFUSED}")).content)
    assert events[-1]["type"] == "error"
    texts = list(Message.objects.filter(conversation_id=thread_id).values_list("role", "text"))
    assert ("user", f"Echo {REPLY_REFUSED}") in texts
    assert not [text for role, text in texts if REPLY_REFUSED in text and role == "assistant"]
    assert Conversation.objects.filter(pk=thread_id).exists()


def test_a_database_that_refuses_a_write_is_no_outage(http, alice, refusing_database):
    thread_id = thread_of(alice)
    response = post(
        http, {"type": "threads.update", "params": {"thread_id": thread_id, "title": REFUSED}}
    )
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    assert "Retry-After" not in response.headers
