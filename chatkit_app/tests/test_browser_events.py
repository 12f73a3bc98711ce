"""The built-in client's handling of the stream events the offline responder
never sends (progress, notices, client effects, widgets, workflows, removed
and replaced items), fed to it in a real Chromium in the shapes
``chatkit.types`` defines."""

from __future__ import annotations

import pytest
from chatkit.types import (
    ClientEffectEvent,
    CustomSummary,
    CustomTask,
    NoticeEvent,
    ProgressUpdateEvent,
    ThreadItemAddedEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdatedEvent,
    WidgetItem,
    Workflow,
    WorkflowItem,
    WorkflowTaskAdded,
)
from chatkit.widgets import Card, Text
from django.utils import timezone
from playwright.sync_api import expect

from .browser import browser as browser
from .browser import chat_ready
from .browser import open_page as open_page
from .live_daphne import start_daphne

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    with start_daphne() as live:
        yield live


def as_json(event) -> dict:
    return event.model_dump(mode="json", exclude_none=True)


FEED = """async (events) => {
    const { BuiltInClient } = await import("/static/chatkit/client.js");
    const config = JSON.parse(document.querySelector("[id$=-config]").textContent);
    const mount = document.createElement("div");
    mount.id = "events-under-test";
    mount.style.cssText = "position: relative; height: 600px";
    document.body.append(mount);
    const client = new BuiltInClient(mount, {...config, threadUrl: ""});
    const effects = [];
    mount.addEventListener("chatkit.effect", (event) => effects.push(event.detail));
    const stream = {threadId: "thr_events", streamingItemIds: new Set(), allowCancel: true};
    client.threadId = "thr_events";
    client.viewStream = stream;
    for (const event of events) client.handleEvent(stream, event);
    await new Promise((resolve) => requestAnimationFrame(() => resolve()));
    return {effects, allowCancel: stream.allowCancel};
}"""


def test_the_built_in_client_renders_every_kind_of_stream_event(server, open_page, alice):
    now = timezone.now()
    workflow = WorkflowItem(
        id="wf_1",
        thread_id="thr_events",
        created_at=now,
        workflow=Workflow(type="custom", tasks=[], summary=CustomSummary(title="Looking it up")),
    )
    widget = WidgetItem(
        id="wd_1",
        thread_id="thr_events",
        created_at=now,
        widget=Card(children=[Text(value="Order <b>#42</b> has shipped")]),
    )
    events = [
        {"type": "stream_options", "stream_options": {"allow_cancel": False}},
        as_json(ProgressUpdateEvent(text="Searching the catalogue…")),
        as_json(ThreadItemAddedEvent(item=workflow)),
        as_json(
            ThreadItemUpdatedEvent(
                item_id="wf_1",
                update=WorkflowTaskAdded(task_index=0, task=CustomTask(title="Read the order")),
            )
        ),
        as_json(ThreadItemAddedEvent(item=widget)),
        as_json(
            NoticeEvent(level="warning", title="Heads up", message="You have **3** messages left.")
        ),
        as_json(ClientEffectEvent(name="confetti", data={"count": 3})),
        as_json(
            ThreadItemReplacedEvent(
                item=widget.model_copy(
                    update={"widget": Card(children=[Text(value="Order #42 was <b>delivered</b>")])}
                )
            )
        ),
    ]
    page = open_page(server, user=alice)
    chat_ready(page)
    result = page.evaluate(FEED, events)
    box = page.locator("#events-under-test")

    assert result["allowCancel"] is False
    assert result["effects"] == [{"name": "confetti", "data": {"count": 3}}]
    expect(box.locator(".ck-workflow summary")).to_have_text("Looking it up")
    expect(box.locator(".ck-workflow li")).to_have_text(["Read the order"])
    expect(box.locator(".ck-item--widget")).to_have_text("Order #42 was <b>delivered</b>")
    expect(box.locator(".ck-item--widget b")).to_have_count(0)
    notice = box.locator(".ck-alert--warning")
    expect(notice.locator("strong").first).to_have_text("Heads up")
    expect(notice).to_contain_text("You have 3 messages left.")
    # The progress line gives way once an item arrives.
    expect(box.locator(".ck-progress")).to_be_hidden()


def test_a_progress_update_shows_until_the_reply_starts(server, open_page, alice):
    page = open_page(server, user=alice)
    chat_ready(page)
    page.evaluate(FEED, [as_json(ProgressUpdateEvent(text="Thinking about it…"))])
    expect(page.locator("#events-under-test .ck-progress")).to_have_text("Thinking about it…")


def test_a_removed_item_disappears(server, open_page, alice):
    now = timezone.now()
    widget = WidgetItem(
        id="wd_2",
        thread_id="thr_events",
        created_at=now,
        widget=Card(children=[Text(value="Temporary card")]),
    )
    page = open_page(server, user=alice)
    chat_ready(page)
    page.evaluate(
        FEED,
        [
            as_json(ThreadItemAddedEvent(item=widget)),
            as_json(ThreadItemRemovedEvent(item_id="wd_2")),
        ],
    )
    expect(page.locator("#events-under-test .ck-item")).to_have_count(0)


def test_widgets_render_their_components_as_text_and_controls(server, open_page, alice):
    """Every string as text (never markup), controls that dispatch their
    actions (client ones as a DOM event, with a form's values), and an
    unknown component type shown by its words."""
    widget = {
        "type": "ListView",
        "status": {"text": "Search <i>results</i>"},
        "children": [
            {
                "type": "ListViewItem",
                "onClickAction": {"type": "open", "handler": "client", "payload": {"id": 7}},
                "children": [
                    {"type": "Title", "value": "<script>window.__pwned = 1</script>"},
                    {"type": "Badge", "label": "new", "color": "success"},
                ],
            },
            {
                "type": "ListViewItem",
                "children": [
                    {
                        "type": "Form",
                        "onSubmitAction": {
                            "type": "rename",
                            "handler": "client",
                            "payload": {"id": 7},
                        },
                        "children": [
                            {"type": "Markdown", "value": "Rename **it**"},
                            {"type": "Input", "name": "title", "defaultValue": "Old name"},
                            {"type": "Checkbox", "name": "urgent", "label": "Urgent"},
                            {"type": "Button", "label": "Save", "submit": True},
                        ],
                    }
                ],
            },
            {"type": "ListViewItem", "children": [{"type": "Gauge", "label": "72% full"}]},
        ],
    }
    now = timezone.now().isoformat()
    item = {
        "type": "widget",
        "id": "wd_controls",
        "thread_id": "thr_events",
        "created_at": now,
        "widget": widget,
    }
    page = open_page(server, user=alice)
    chat_ready(page)
    page.evaluate(
        """() => {
            window.__actions = [];
            document.addEventListener("chatkit.action", (e) => window.__actions.push(e.detail));
        }"""
    )
    page.evaluate(FEED, [{"type": "thread.item.done", "item": item}])
    box = page.locator("#events-under-test .ck-item--widget")
    expect(box.locator(".ck-w-status")).to_have_text("Search <i>results</i>")
    expect(box.get_by_role("heading")).to_have_text("<script>window.__pwned = 1</script>")
    expect(box.locator(".ck-w-badge")).to_have_text("new")
    expect(box.locator(".ck-w-markdown strong")).to_have_text("it")
    expect(box.locator(".ck-w-fallback")).to_have_text("72% full")
    assert box.locator("script, i").count() == 0
    assert page.evaluate("window.__pwned") is None

    box.get_by_role("button", name="<script>").click()
    box.get_by_role("textbox").fill("New name")
    box.get_by_role("checkbox", name="Urgent").check()
    box.get_by_role("button", name="Save").click()
    actions = page.evaluate("window.__actions")
    assert actions == [
        {
            "action": {"type": "open", "payload": {"id": 7}},
            "itemId": "wd_controls",
            "threadId": "thr_events",
        },
        {
            "action": {
                "type": "rename",
                "payload": {"id": 7, "title": "New name", "urgent": True},
            },
            "itemId": "wd_controls",
            "threadId": "thr_events",
        },
    ]
