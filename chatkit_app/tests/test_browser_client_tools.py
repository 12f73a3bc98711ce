"""Client tools in a real headless Chromium against a live daphne (the real
``/chatkit``), with the fake model provider scripted to call the tasks
assistant's ``read_selected_task``: the page answers the chat's
``chatkit.client_tool`` event with the task selected on it, the built-in
client sends that to the server, and the assistant answers with it; a page
without a handler says so instead of leaving the chat waiting; and the
official component's ``onClientTool`` runs the same handlers."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from chatkit_app.models import Message
from chatkit_app.serialization import item_from_message
from tasks.models import Task

from .browser import browser as browser
from .browser import chat_ready, chatkit_request, last_reply, official_stub_page, send
from .browser import open_page as open_page
from .conftest import fake_provider_daphne

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, fake_provider_server):
    with fake_provider_daphne(fake_provider_server) as live:
        yield live


tool_output_request = chatkit_request("threads.add_client_tool_output")


def test_the_assistant_reads_the_task_selected_on_the_page(server, open_page, alice, fake_provider):
    Task.objects.create(owner=alice, title="Water the plants")
    rent = Task.objects.create(owner=alice, title="Pay rent", priority="high")
    fake_provider.call_tools(("read_selected_task", {}))
    fake_provider.reply("You selected “Pay rent”, a high-priority task.")
    page = open_page(server, user=alice, path="/tasks/")
    chat_ready(page)
    choose = page.locator(".task-select", has_text="Pay rent")
    choose.click()
    expect(choose).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".task--selected .task-select")).to_have_text(["Pay rent"])

    with page.expect_request(tool_output_request) as sent:
        send(page, "What about the selected task?")
    expected = {
        "selected": True,
        "task": {
            "id": rent.pk,
            "title": "Pay rent",
            "done": False,
            "due_date": None,
            "priority": "high",
        },
    }
    assert json.loads(sent.value.post_data)["params"]["result"] == expected
    expect(last_reply(page).locator(".ck-bubble")).to_have_text(
        "You selected “Pay rent”, a high-priority task."
    )
    expect(page.locator(".ck-item--client_tool_call")).to_have_text(
        "The page answered read_selected_task."
    )
    # The model got the page's answer as the tool's output.
    second = fake_provider.answer_requests()[1].body
    outputs = [item for item in second["input"] if item.get("type") == "function_call_output"]
    assert [json.loads(item["output"]) for item in outputs] == [expected]
    call = item_from_message(Message.objects.get(type="client_tool_call"))
    assert (call.status, call.output) == ("completed", expected)

    # Nothing selected: the page says so, and the assistant can tell the user.
    choose.click()
    expect(choose).to_have_attribute("aria-pressed", "false")
    fake_provider.call_tools(("read_selected_task", {}))
    fake_provider.reply("No task is selected.")
    with page.expect_request(tool_output_request) as again:
        send(page, "And now?")
    assert json.loads(again.value.post_data)["params"]["result"] == {"selected": False}
    expect(last_reply(page)).to_contain_text("No task is selected.")


def test_a_page_without_a_handler_answers_with_an_error_and_the_chat_goes_on(
    server, open_page, alice, fake_provider
):
    fake_provider.call_tools(("read_selected_task", {}))
    fake_provider.reply("I cannot see a selected task from here.")
    # The chat page has no task list, so nothing answers the client tool.
    page = open_page(server, user=alice, path="/")
    chat_ready(page)
    page.get_by_role("combobox", name="Assistant").select_option("tasks")
    with page.expect_request(tool_output_request) as sent:
        send(page, "What is selected?")
    assert json.loads(sent.value.post_data)["params"]["result"] == {
        "error": 'This page has no handler for the client tool "read_selected_task".'
    }
    expect(last_reply(page)).to_contain_text("I cannot see a selected task from here.")
    expect(page.locator(".ck-alert--error")).to_have_count(0)


def test_the_official_components_on_client_tool_runs_the_pages_handlers(server, open_page, alice):
    rent = Task.objects.create(owner=alice, title="Pay rent")
    page = official_stub_page(open_page, server, alice, "/tasks/")
    page.locator(".task-select", has_text="Pay rent").click()
    answer = page.evaluate(
        "() => window.__chatkitOptions.onClientTool({name: 'read_selected_task', params: {}})"
    )
    assert answer == {
        "selected": True,
        "task": {
            "id": rent.pk,
            "title": "Pay rent",
            "done": False,
            "due_date": None,
            "priority": "normal",
        },
    }
    unknown = page.evaluate(
        "() => window.__chatkitOptions.onClientTool({name: 'open_the_pod_bay_doors', params: {}})"
    )
    assert unknown == {
        "error": 'This page has no handler for the client tool "open_the_pod_bay_doors".'
    }
