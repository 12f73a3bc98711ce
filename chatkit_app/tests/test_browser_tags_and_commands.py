"""The composer's "@" (tags) and "/" (commands) menus, turned on by
``CHATKIT_UI``, in a real headless Chromium against a live daphne (the real
``/chatkit`` and tag search) with the fake model provider: a tagged task
goes out as an ``input_tag`` part, shows as a chip, reaches the model and
selects the task on the page when clicked; a command picks an assistant or
fills in a prompt; and the official component gets the same search,
commands and click handling."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tasks.models import Task

from .browser import browser as browser
from .browser import chat_ready, chatkit_request, last_reply, official_stub_page, screenshot
from .browser import open_page as open_page
from .conftest import fake_provider_daphne

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

UI = {
    "entities": True,
    "commands": [{"label": "Weekly review", "prompt": "What is due this week?"}],
}


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, fake_provider_server):
    with fake_provider_daphne(fake_provider_server, CHATKIT_UI=json.dumps(UI)) as live:
        yield live


message_request = chatkit_request("threads.create")


def test_a_task_tagged_with_at_goes_out_as_a_tag_and_shows_as_a_chip(
    server, open_page, alice, bob, fake_provider
):
    groceries = Task.objects.create(owner=alice, title="Buy groceries")
    Task.objects.create(owner=alice, title="Call the bank")
    Task.objects.create(owner=bob, title="Buy Bob's present")
    fake_provider.reply("Marked “Buy groceries” done.")
    page = open_page(server, user=alice, path="/tasks/")
    chat_ready(page)
    box = page.get_by_role("combobox", name="Message")

    box.press_sequentially("Mark @Bu")
    menu = page.get_by_role("listbox", name="Tags")
    expect(menu.locator(".ck-menu-label")).to_have_text(["Buy groceries"])  # bob's is not there
    expect(menu.get_by_role("option").first).to_have_attribute("aria-selected", "true")
    screenshot(page, "tags-menu", docs="tags-menu")
    box.press("Enter")
    expect(menu).to_be_hidden()
    expect(box).to_have_value("Mark @Buy groceries ")
    expect(page.locator(".ck-tags .ck-tag")).to_have_text(["Buy groceries"])

    searches: list[str] = []
    page.on("request", lambda r: searches.append(r.url) if "/chatkit/entities" in r.url else None)
    box.press_sequentially("as done")
    page.wait_for_timeout(400)  # longer than the search's debounce: none may start
    with page.expect_request(message_request) as sent:
        box.press("Enter")
    content = json.loads(sent.value.post_data)["params"]["input"]["content"]
    assert content == [
        {"type": "input_text", "text": "Mark "},
        {
            "type": "input_tag",
            "id": f"task-{groceries.pk}",
            "text": "Buy groceries",
            "group": "Tasks",
            "data": {"task_id": str(groceries.pk), "done": "no"},
            "interactive": True,
        },
        {"type": "input_text", "text": " as done"},
    ]
    expect(last_reply(page)).to_contain_text("Marked “Buy groceries” done.")
    assert searches == []  # words typed after a chosen tag are not searched for
    message = page.locator(".ck-item--user_message").last
    expect(message.locator(".ck-bubble")).to_have_text("Mark Buy groceries as done")
    expect(message.locator(".ck-tag")).to_have_text("Buy groceries")
    expect(page.locator(".ck-tags")).to_be_hidden()
    assert "Mark @Buy groceries as done" in " ".join(
        fake_provider.answer_requests()[0].user_texts()
    )

    # A click on the chip selects the task on the page.
    message.locator("button.ck-tag").click()
    row = page.locator(f'.task[data-task-id="{groceries.pk}"]')
    expect(row.locator(".task-select")).to_have_attribute("aria-pressed", "true")

    # The composer's "@" button starts a tag; Escape closes the menu.
    page.get_by_role("button", name="Tag something").click()
    expect(box).to_have_value("@")
    # Every task, in the list's order (undated ones newest first).
    expect(menu.locator(".ck-menu-label")).to_have_text(["Call the bank", "Buy groceries"])
    box.press("Escape")
    expect(menu).to_be_hidden()
    # Editing away a tag's text drops the tag: it is sent as plain text.
    box.fill("")
    box.press_sequentially("@Call")
    expect(menu.locator(".ck-menu-label")).to_have_text(["Call the bank"])
    menu.get_by_role("option").click()
    expect(page.locator(".ck-tags .ck-tag")).to_have_text(["Call the bank"])
    box.fill("call the bank")
    expect(page.locator(".ck-tags")).to_be_hidden()


def test_a_tagged_message_keeps_its_chip_after_a_reload(server, open_page, alice, fake_provider):
    task = Task.objects.create(owner=alice, title="Water the plants")
    fake_provider.reply("Noted.")
    page = open_page(server, user=alice, path="/")
    chat_ready(page)
    box = page.get_by_role("combobox", name="Message")
    box.press_sequentially("@Water")
    page.get_by_role("option", name="Water the plants").click()
    box.press("Enter")
    expect(last_reply(page)).to_contain_text("Noted.")
    page.reload()
    chat_ready(page)
    chip = page.locator(".ck-item--user_message .ck-tag")
    expect(chip).to_have_text("Water the plants")
    expect(chip).to_have_attribute("data-entity-id", f"task-{task.pk}")


def test_slash_commands_pick_an_assistant_or_fill_in_a_prompt(server, open_page, alice):
    page = open_page(server, user=alice, path="/tasks/")
    chat_ready(page)
    box = page.get_by_role("combobox", name="Message")
    picker = page.get_by_role("combobox", name="Assistant")
    expect(picker).to_have_value("tasks")

    box.press_sequentially("/")
    menu = page.get_by_role("listbox", name="Commands")
    expect(menu.locator(".ck-menu-label")).to_have_text(["Assistant", "Tasks", "Weekly review"])
    box.press_sequentially("week")
    expect(menu.locator(".ck-menu-label")).to_have_text(["Weekly review"])
    box.press("Enter")
    expect(box).to_have_value("What is due this week?")
    expect(menu).to_be_hidden()

    box.fill("")
    box.press_sequentially("/ass")
    expect(menu.locator(".ck-menu-label")).to_have_text(["Assistant"])
    box.press("Tab")
    expect(picker).to_have_value("assistant")
    expect(box).to_have_value("")

    # A slash later in a message is only a slash.
    box.press_sequentially("either/or")
    expect(menu).to_be_hidden()
    box.fill("")
    box.press_sequentially("/zzz")
    expect(menu).to_contain_text("No command matches that.")
    box.press("Escape")
    expect(menu).to_be_hidden()


def test_the_official_component_gets_the_same_tags_and_commands(server, open_page, alice):
    groceries = Task.objects.create(owner=alice, title="Buy groceries")
    page = official_stub_page(open_page, server, alice, "/tasks/")
    options = page.evaluate(
        "() => ({entities: window.__chatkitOptions.entities.showComposerMenu,"
        " search: typeof window.__chatkitOptions.entities.onTagSearch,"
        " commands: window.__chatkitOptions.commands.enabled})"
    )
    assert options == {"entities": True, "search": "function", "commands": True}
    found = page.evaluate("() => window.__chatkitOptions.entities.onTagSearch('groc')")
    assert found == [
        {
            "id": f"task-{groceries.pk}",
            "title": "Buy groceries",
            "group": "Tasks",
            "icon": "check-circle",
            "interactive": True,
            "data": {"task_id": str(groceries.pk), "done": "no"},
        }
    ]
    # A click on a tag in the component selects the task, as in the built-in client.
    page.evaluate("(entity) => window.__chatkitOptions.entities.onClick(entity)", found[0])
    expect(page.locator(".task--selected .task-select")).to_have_text(["Buy groceries"])

    commands = page.evaluate("() => window.__chatkitOptions.commands.onSearch('week')")
    assert commands == [
        {
            "id": "prompt:0",
            "label": "Weekly review",
            "description": "What is due this week?",
            "icon": "write",
            "group": "Prompts",
        }
    ]
    for command in ("assistant:assistant", "assistant:tasks", "prompt:0"):
        page.evaluate("(id) => window.__chatkitOptions.commands.onSelect({id, label: id})", command)
    # The panel's own assistant (tasks) is "no tool" in the component's menu.
    assert page.evaluate("() => window.__composerValues") == [
        {"selectedToolId": "assistant"},
        {"selectedToolId": None},
        {"text": "What is due this week?"},
    ]
