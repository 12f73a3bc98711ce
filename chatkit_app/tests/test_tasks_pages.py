"""The tasks demo's plain Django pages: each user sees and changes only
their own tasks."""

from __future__ import annotations

import pytest
from django.test import Client

from tasks.models import Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_of():
    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


def test_the_page_needs_a_signed_in_user(client):
    response = client.get("/tasks/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_page_lists_only_the_users_tasks_with_the_chat_beside_them(client_of, alice, bob):
    Task.objects.create(owner=alice, title="Alice's errand")
    Task.objects.create(owner=bob, title="Bob's errand")
    page = client_of(alice).get("/tasks/").content.decode()
    assert "Alice&#x27;s errand" in page
    assert "Bob" not in page
    assert 'class="ck-panel' in page  # the embedded chat


def test_adding_a_task_with_the_form(client_of, alice):
    response = client_of(alice).post(
        "/tasks/", {"title": "Buy bread", "due_date": "2026-12-01", "priority": "high"}
    )
    assert response.status_code == 302
    task = Task.objects.get()
    assert (task.owner, task.title, str(task.due_date), task.priority) == (
        alice,
        "Buy bread",
        "2026-12-01",
        "high",
    )


def test_an_invalid_form_shows_errors_and_adds_nothing(client_of, alice):
    response = client_of(alice).post("/tasks/", {"title": "", "priority": "whenever"})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not Task.objects.exists()


def test_toggling_editing_and_deleting_a_task(client_of, alice):
    task = Task.objects.create(owner=alice, title="Draft")
    client = client_of(alice)
    client.post(f"/tasks/{task.pk}/toggle/")
    task.refresh_from_db()
    assert task.done is True
    client.post(f"/tasks/{task.pk}/edit/", {"title": "Final", "priority": "low"})
    task.refresh_from_db()
    assert (task.title, task.priority) == ("Final", "low")
    client.post(f"/tasks/{task.pk}/delete/")
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "edit/"), ("post", "edit/"), ("post", "toggle/"), ("post", "delete/")],
)
def test_another_users_task_is_404_and_unchanged(client_of, alice, bob, method, path):
    task = Task.objects.create(owner=bob, title="Bob's")
    response = getattr(client_of(alice), method)(f"/tasks/{task.pk}/{path}", {"title": "pwned"})
    assert response.status_code == 404
    task.refresh_from_db()
    assert (task.title, task.done) == ("Bob's", False)


def test_toggle_and_delete_refuse_get(client_of, alice):
    task = Task.objects.create(owner=alice, title="Safe")
    assert client_of(alice).get(f"/tasks/{task.pk}/delete/").status_code == 405
    assert Task.objects.exists()


def test_the_list_fragment_is_what_the_page_reloads(client_of, alice):
    Task.objects.create(owner=alice, title="Fresh")
    fragment = client_of(alice).get("/tasks/?fragment=1").content.decode()
    assert "Fresh" in fragment
    assert "<html" not in fragment


def test_dated_tasks_come_first_soonest_first(client_of, alice):
    from datetime import date

    Task.objects.create(owner=alice, title="Someday")
    Task.objects.create(owner=alice, title="Friday", due_date=date(2026, 11, 27))
    Task.objects.create(owner=alice, title="Tomorrow", due_date=date(2026, 11, 26))
    page = client_of(alice).get("/tasks/?fragment=1").content.decode()
    assert page.index("Tomorrow") < page.index("Friday") < page.index("Someday")
