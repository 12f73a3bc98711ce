"""Tags (``@`` in the composer): the tag search both clients call (``GET
/chatkit/entities``), for the caller's own things only and only while
``CHATKIT_UI['entities']`` is on, and a tagged message reaching the model,
with the tag's data, on both provider wire formats."""

from __future__ import annotations

import pytest
from django.test import Client

from tasks.models import Task

from .chatkit_client import ApiClient, post_chatkit

pytestmark = pytest.mark.django_db


@pytest.fixture
def tags_on(settings):
    settings.CHATKIT_UI = {"entities": True}


def search(query: str, method: str = "get", **kwargs):
    return post_chatkit("{}", path=f"/chatkit/entities?q={query}", method=method, **kwargs)


def test_the_tag_search_offers_the_callers_own_tasks(tags_on, alice, bob):
    groceries = Task.objects.create(owner=alice, title="Buy groceries")
    Task.objects.create(owner=alice, title="Call the bank")
    Task.objects.create(owner=bob, title="Buy Bob's groceries")
    response = search("groceries", login=alice)
    assert response.status_code == 200
    assert response.json() == {
        "data": [
            {
                "id": f"task-{groceries.pk}",
                "title": "Buy groceries",
                "group": "Tasks",
                "icon": "check-circle",
                "interactive": True,
                "data": {"task_id": str(groceries.pk), "done": "no"},
            }
        ]
    }
    # An empty query lists some of them; bob's are never among alice's.
    titles = [entity["title"] for entity in search("", login=alice).json()["data"]]
    assert sorted(titles) == ["Buy groceries", "Call the bank"]
    # A bearer token works too, as for /chatkit.
    api = ApiClient(bob)
    by_token = search("groceries", **api.auth).json()["data"]
    assert [entity["title"] for entity in by_token] == ["Buy Bob's groceries"]


def test_the_tag_search_needs_a_signed_in_user_and_tags_turned_on(settings, alice):
    settings.CHATKIT_UI = {"entities": True}
    anonymous = Client().get("/chatkit/entities?q=x")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthenticated"
    assert search("x", login=alice, method="post").status_code == 405
    assert search("%00", login=alice).status_code == 400

    settings.CHATKIT_UI = {}
    off = search("x", login=alice)
    assert off.status_code == 404
    assert off.json()["error"]["code"] == "not_found"


def test_a_tagged_message_reaches_the_model_with_the_tags_data(provider, settings, alice):
    settings.CHATKIT_DEFAULT_ASSISTANT = "tasks"
    task = Task.objects.create(owner=alice, title="Buy groceries")
    provider.reply("Done.")
    body = {
        "type": "threads.create",
        "params": {
            "input": {
                "content": [
                    {"type": "input_text", "text": "Mark "},
                    {
                        "type": "input_tag",
                        "id": f"task-{task.pk}",
                        "text": "Buy groceries",
                        "group": "Tasks",
                        "data": {"task_id": str(task.pk)},
                        "interactive": True,
                    },
                    {"type": "input_text", "text": " as done"},
                ],
                "attachments": [],
                "inference_options": {},
            }
        },
    }
    api = ApiClient(alice)
    events = api(body).events()
    stored = next(e["item"] for e in events if e["type"] == "thread.item.done")
    assert [part["type"] for part in stored["content"]] == ["input_text", "input_tag", "input_text"]
    sent = " ".join(provider.answer_requests()[0].user_texts())
    assert "Mark @Buy groceries as done" in sent
    assert f'@Buy groceries: {{"task_id": "{task.pk}"}}' in sent

    # The second turn (where Chat Completions providers used to fail) too.
    provider.reply("Anything else?")
    thread_id = events[0]["thread"]["id"]
    api(
        {
            "type": "threads.add_user_message",
            "params": {
                "thread_id": thread_id,
                "input": {
                    "content": [{"type": "input_text", "text": "thanks"}],
                    "attachments": [],
                    "inference_options": {},
                },
            },
        }
    )
    assert "Mark @Buy groceries as done" in " ".join(provider.answer_requests()[1].user_texts())
