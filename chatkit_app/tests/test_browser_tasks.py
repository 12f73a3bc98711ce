"""The tasks demo in a real headless Chromium against a live daphne, answered
by the fake model provider scripted to call the tasks assistant's tools: ask
the chat beside the task list to add a task, see the widget, tick the task
done in the widget, and see the list on the page (and the database) agree."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
from chatkit.types import InferenceOptions, ToolChoice, UserMessageItem, UserMessageTextContent
from playwright.sync_api import expect

from chatkit_app import services
from chatkit_app.models import Conversation
from tasks.models import Task

from .browser import browser as browser
from .browser import chat_ready, chatkit_request, last_reply, official_stub_page, screenshot, send
from .browser import open_page as open_page
from .conftest import fake_provider_daphne

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, fake_provider_server):
    with fake_provider_daphne(fake_provider_server) as live:
        yield live


message_request = chatkit_request("threads.create")


def test_a_task_added_in_the_chat_and_ticked_in_its_widget_is_done_on_the_page(
    server, open_page, alice, fake_provider
):
    fake_provider.call_tools(("add_task", {"title": "Buy groceries"}))
    fake_provider.reply("Added “Buy groceries” to your list.")
    page = open_page(server, user=alice, path="/tasks/")
    chat_ready(page)
    open_tasks = page.get_by_test_id("open-tasks")
    expect(open_tasks).to_have_text("Nothing to do.")
    # The panel is the tasks assistant's: its picker starts there.
    expect(page.get_by_role("combobox", name="Assistant")).to_have_value("tasks")

    with page.expect_request(message_request) as sent:
        send(page, "Add buy groceries to my list")
    body = json.loads(sent.value.post_data)
    assert body["params"]["input"]["inference_options"]["tool_choice"] == {"id": "tasks"}

    expect(last_reply(page).locator(".ck-bubble")).to_have_text(
        "Added “Buy groceries” to your list."
    )
    widget = page.locator(".ck-item--widget").last
    expect(widget.locator(".ck-w-status")).to_have_text("Your tasks")
    expect(widget.locator(".ck-w-text")).to_have_text(["Buy groceries"])
    expect(widget.locator(".ck-w-caption").last).to_have_text("1 open, 0 done")
    # The tasks.changed client effect made the page reload its list.
    expect(open_tasks.locator(".task-title")).to_have_text(["Buy groceries"])
    task = Task.objects.get(owner=alice)
    assert (task.title, task.done) == ("Buy groceries", False)
    screenshot(page, "tasks-widget-added", docs="widget")

    checkbox = widget.get_by_role("checkbox", name="Buy groceries")
    expect(checkbox).not_to_be_checked()
    with page.expect_response(
        lambda response: (
            response.url.endswith("/chatkit")
            and '"threads.custom_action"' in (response.request.post_data or "")
        )
    ) as acted:
        checkbox.check()
    action = json.loads(acted.value.request.post_data)["params"]
    assert action["item_id"] == widget.get_attribute("data-item-id")
    assert action["action"] == {
        "type": "tasks.set_done",
        "payload": {"task_id": task.pk, "done": True},
    }

    # The widget is replaced in place (same item), now showing the task done...
    widget = page.locator(f'[data-item-id="{action["item_id"]}"]')
    expect(widget.locator(".ck-w-caption").last).to_have_text("0 open, 1 done")
    expect(widget.get_by_role("checkbox", name="Buy groceries")).to_be_checked()
    expect(widget.locator(".ck-w-text")).to_have_attribute("data-line-through", "true")
    expect(page.locator(".ck-item--widget")).to_have_count(1)
    # ...the list beside the chat follows, and so does the database.
    expect(page.get_by_test_id("done-tasks").locator(".task-title")).to_have_text(["Buy groceries"])
    expect(open_tasks).to_have_text("Nothing to do.")
    task.refresh_from_db()
    assert task.done is True
    screenshot(page, "tasks-widget-ticked")

    # The task list page, loaded afresh, agrees; so does the widget in the thread.
    page.reload()
    chat_ready(page)
    expect(page.get_by_test_id("done-tasks").locator(".task-title")).to_have_text(["Buy groceries"])
    expect(page.get_by_role("button", name="Reopen Buy groceries")).to_be_visible()


def test_the_widgets_delete_button_deletes_once_and_the_page_follows(
    server, open_page, alice, fake_provider
):
    keep = Task.objects.create(owner=alice, title="Water the plants")
    drop = Task.objects.create(owner=alice, title="Cancel the gym")
    fake_provider.call_tools(("list_tasks", {"show": "open"}))
    fake_provider.reply("Here is your list.")
    page = open_page(server, user=alice, path="/tasks/")
    chat_ready(page)
    send(page, "What is on my list?")
    last_reply(page)
    widget = page.locator(".ck-item--widget").last
    expect(widget.locator(".ck-w-text")).to_have_text(["Cancel the gym", "Water the plants"])
    row = widget.locator(".ck-w-row", has_text="Cancel the gym")
    row.get_by_role("button", name="Delete").click()

    expect(row.locator(".ck-w-badge")).to_have_text("Deleted")
    expect(row.get_by_role("checkbox")).to_be_disabled()
    expect(
        widget.locator(".ck-w-row", has_text="Water the plants").get_by_role("button")
    ).to_have_text("Delete")
    expect(page.get_by_test_id("open-tasks").locator(".task-title")).to_have_text(
        ["Water the plants"]
    )
    assert list(Task.objects.filter(owner=alice)) == [keep]
    assert not Task.objects.filter(pk=drop.pk).exists()
    screenshot(page, "tasks-widget-deleted")
    page.get_by_role("button", name="Use dark theme").click()
    expect(page.locator(".ck-app")).to_have_attribute("data-color-scheme", "dark")
    screenshot(page, "tasks-widget-dark")


def test_picking_the_default_assistant_sends_no_tool_choice(
    server, open_page, alice, fake_provider
):
    fake_provider.reply("Hello from the default assistant.")
    page = open_page(server, user=alice, path="/tasks/")
    chat_ready(page)
    picker = page.get_by_role("combobox", name="Assistant")
    expect(picker.locator("option")).to_have_text(["Assistant", "Tasks"])
    picker.select_option(label="Assistant")
    with page.expect_request(message_request) as sent:
        send(page, "Hello")
    options = json.loads(sent.value.post_data)["params"]["input"]["inference_options"]
    assert "tool_choice" not in options
    expect(last_reply(page)).to_contain_text("Hello from the default assistant.")
    # The default assistant has no task tools; it can only ask for a person.
    assert fake_provider.answer_requests()[-1].tool_names() == ["ask_for_person"]


def test_the_chat_page_routes_a_turn_to_the_assistant_picked(
    server, open_page, alice, fake_provider
):
    fake_provider.call_tools(("add_task", {"title": "Call the bank"}))
    fake_provider.reply("Done.")
    page = open_page(server, user=alice, path="/")
    chat_ready(page)
    picker = page.get_by_role("combobox", name="Assistant")
    expect(picker).to_have_value("assistant")
    picker.select_option("tasks")
    send(page, "Remind me to call the bank")
    expect(last_reply(page)).to_contain_text("Done.")
    expect(page.locator(".ck-item--widget .ck-w-text")).to_have_text(["Call the bank"])
    assert Task.objects.get(owner=alice).title == "Call the bank"
    tools = {tool["name"] for tool in fake_provider.answer_requests()[0].body["tools"]}
    assert {"add_task", "complete_task", "list_tasks"} <= tools
    assert re.search(r"to-do list", json.dumps(fake_provider.answer_requests()[0].body))


def test_a_conversation_reopened_shows_the_assistant_it_was_talking_to(
    server, open_page, alice, fake_provider
):
    fake_provider.call_tools(("list_tasks", {}))
    fake_provider.reply("Nothing on your list.")
    page = open_page(server, user=alice, path="/")
    chat_ready(page)
    picker = page.get_by_role("combobox", name="Assistant")
    picker.select_option("tasks")
    send(page, "What is on my list?")
    expect(last_reply(page)).to_contain_text("Nothing on your list.")
    thread_url = page.url

    # A new conversation starts with the page's own assistant again...
    page.get_by_role("button", name="New chat").first.click()
    expect(picker).to_have_value("assistant")
    # ...and the conversation, opened from the list or reloaded, with its own.
    page.locator(".ck-thread-open").first.click()
    expect(page.locator(".ck-item--assistant_message")).to_have_count(1)
    expect(picker).to_have_value("tasks")
    page.goto(thread_url)
    chat_ready(page)
    expect(page.get_by_role("combobox", name="Assistant")).to_have_value("tasks")
    expect(page.locator(".ck-item--assistant_message")).to_have_count(1)

    # The message sent from the reopened conversation goes to that assistant.
    fake_provider.reply("Still nothing.")
    with page.expect_request(
        lambda request: '"threads.add_user_message"' in (request.post_data or "")
    ) as sent:
        send(page, "And now?")
    options = json.loads(sent.value.post_data)["params"]["input"]["inference_options"]
    assert options["tool_choice"] == {"id": "tasks"}


def test_the_official_components_tool_menu_is_restored_when_a_thread_loads(
    server, open_page, alice
):
    thread_id = "thr_to_tasks"
    Conversation.objects.create(id=thread_id, owner=alice, title="To tasks")
    message = UserMessageItem(
        id="msg_to_tasks",
        thread_id=thread_id,
        created_at=datetime.now(),
        content=[UserMessageTextContent(text="hi")],
        inference_options=InferenceOptions(tool_choice=ToolChoice(id="tasks")),
    )
    services.message_upsert(owner=alice, conversation_id=thread_id, item=message)
    page = official_stub_page(open_page, server, alice, "/")
    page.evaluate(
        "(threadId) => document.querySelector('openai-chatkit').dispatchEvent("
        "new CustomEvent('chatkit.thread.load.end', {detail: {threadId}}))",
        thread_id,
    )
    page.wait_for_function("() => window.__composerValues.length === 1")
    assert page.evaluate("() => window.__composerValues") == [{"selectedToolId": "tasks"}]
