"""Questions the assistant asks, in a real headless Chromium against a live
daphne (the real ``/chatkit``), answered by the fake model provider scripted
to call the tasks assistant's asking tools: the built-in client shows a
form (one choice, several choices, free text), sends the answers or the
skip, shows the answered state, and a reload shows it again."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from chatkit_app.models import Message
from chatkit_app.serialization import item_from_message
from tasks.models import Task

from .browser import browser as browser
from .browser import chat_ready, chatkit_request, last_reply, screenshot, send
from .browser import open_page as open_page
from .conftest import fake_provider_daphne

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, fake_provider_server):
    with fake_provider_daphne(fake_provider_server) as live:
        yield live


answers_request = chatkit_request("threads.add_structured_input")


def stored_question():
    return item_from_message(Message.objects.get(type="structured_input"))


def test_a_question_is_answered_in_the_chat_and_stays_answered_after_a_reload(
    server, open_page, alice, fake_provider
):
    fake_provider.call_tools(("ask_task_details", {"title": "Pay rent", "ask_due_date": True}))
    fake_provider.reply("Added “Pay rent”: high priority, due on 1 December.")
    page = open_page(server, user=alice, path="/tasks/")
    chat_ready(page)
    send(page, "Add pay rent")

    form = page.get_by_role("form", name="Questions from the assistant")
    expect(form).to_be_visible()
    expect(form.locator("legend")).to_have_text(
        ["Which priority for “Pay rent”?", "When is “Pay rent” due?"]
    )
    expect(form.get_by_role("radio")).to_have_count(3)
    send_answers = form.get_by_role("button", name="Send answers")
    # Nothing answered yet: nothing to send (skipping is the other way out).
    expect(send_answers).to_be_disabled()
    form.get_by_role("radio", name="high").check()
    form.get_by_role("textbox", name="When is “Pay rent” due?").fill("2026-12-01")
    # Answered, and the reply that asked has ended: the answers can go.
    expect(send_answers).to_be_enabled()
    screenshot(page, "structured-input-form", docs="structured-input")

    with page.expect_request(answers_request) as sent:
        send_answers.click()
    body = json.loads(sent.value.post_data)["params"]
    assert body["item_id"] == stored_question().id
    assert body["input"] == {
        "status": "answered",
        "answers": {
            "priority": {"values": ["high"], "skipped": False},
            "due_date": {"values": ["2026-12-01"], "skipped": False},
        },
    }

    # The form becomes the answers, and the assistant goes on.
    expect(last_reply(page).locator(".ck-bubble")).to_have_text(
        "Added “Pay rent”: high priority, due on 1 December."
    )
    answered = page.locator(".ck-questions.is-answered")
    expect(answered.locator("dd")).to_have_text(["high", "2026-12-01"])
    expect(page.get_by_role("form", name="Questions from the assistant")).to_have_count(0)
    assert stored_question().status == "answered"
    sent_to_model = " ".join(fake_provider.answer_requests()[1].user_texts())
    assert "Which priority for “Pay rent”?: high" in sent_to_model
    screenshot(page, "structured-input-answered")

    # The conversation opened afresh (the chat page's address for it).
    page.goto(f"/threads/{stored_question().thread_id}")
    chat_ready(page)
    expect(page.locator(".ck-questions.is-answered dt")).to_have_text(
        ["Which priority for “Pay rent”?", "When is “Pay rent” due?"]
    )
    expect(page.locator(".ck-questions.is-answered dd")).to_have_text(["high", "2026-12-01"])
    expect(page.get_by_role("radio")).to_have_count(0)


def test_several_choices_and_an_answer_of_ones_own_are_sent_together(
    server, open_page, alice, fake_provider
):
    Task.objects.create(owner=alice, title="Buy milk")
    Task.objects.create(owner=alice, title="Buy eggs")
    fake_provider.call_tools(
        ("choose_tasks", {"question": "Which did you buy?", "matching": "buy"})
    )
    fake_provider.reply("Marked them done.")
    page = open_page(server, user=alice, path="/tasks/")
    chat_ready(page)
    send(page, "I did the shopping")

    form = page.get_by_role("form", name="Questions from the assistant")
    choices = form.get_by_role("checkbox")
    expect(choices).to_have_count(2)
    form.get_by_role("checkbox", name="Buy milk").check()
    form.get_by_role("checkbox", name="Buy eggs").check()
    form.get_by_role("textbox", name="Another answer to: Which did you buy?").fill("Bread")
    with page.expect_request(answers_request) as sent:
        form.get_by_role("button", name="Send answers").click()
    values = json.loads(sent.value.post_data)["params"]["input"]["answers"]["tasks"]["values"]
    assert sorted(values[:2]) == ["Buy eggs", "Buy milk"]
    assert values[2] == "Bread"

    expect(last_reply(page)).to_contain_text("Marked them done.")
    [shown] = page.locator(".ck-questions.is-answered dd").all_inner_texts()
    assert shown == ", ".join(values)
    assert stored_question().inputs[0].answer.values == values


def test_a_question_waits_while_a_reply_streams_and_can_be_answered_once_it_ends(
    server, open_page, alice, fake_provider
):
    # The model asks and reads the selected task at once: the page answers the
    # client tool, which starts the next reply while the question is on screen.
    fake_provider.call_tools(
        ("ask_task_details", {"title": "Book flights"}), ("read_selected_task", {})
    )
    hold = fake_provider.reply_held("Nothing is selected, so tell me the priority.", after_words=2)
    fake_provider.reply("Added with high priority.")
    page = open_page(server, user=alice, path="/tasks/")
    chat_ready(page)
    send(page, "Add book flights")
    form = page.get_by_role("form", name="Questions from the assistant")
    hold.wait_reached()
    # Mid-reply: nothing in the form can be sent, and the form says why.
    expect(form).to_contain_text("You can answer once the reply has finished.")
    expect(form.get_by_role("button", name="Skip")).to_be_disabled()
    form.get_by_role("radio", name="high").check()
    expect(form.get_by_role("button", name="Send answers")).to_be_disabled()

    hold.release()
    expect(last_reply(page)).to_contain_text("tell me the priority.")
    expect(form).not_to_contain_text("You can answer once the reply has finished.")
    expect(form.get_by_role("button", name="Skip")).to_be_enabled()
    with page.expect_request(answers_request) as sent:
        form.get_by_role("button", name="Send answers").click()
    assert json.loads(sent.value.post_data)["params"]["input"]["answers"]["priority"] == {
        "values": ["high"],
        "skipped": False,
    }
    expect(last_reply(page)).to_contain_text("Added with high priority.")


def test_skipping_says_so_and_a_question_passed_over_cannot_be_answered_later(
    server, open_page, alice, fake_provider
):
    fake_provider.call_tools(("ask_task_details", {"title": "Book flights"}))
    fake_provider.reply("Added with normal priority.")
    page = open_page(server, user=alice, path="/tasks/")
    chat_ready(page)
    send(page, "Add book flights")
    form = page.get_by_role("form", name="Questions from the assistant")
    skip = form.get_by_role("button", name="Skip")
    # The question first (a model turn away on a loaded machine): the wait
    # for the request starts only once there is something to click.
    expect(skip).to_be_enabled()
    with page.expect_request(answers_request) as sent:
        skip.click()
    assert json.loads(sent.value.post_data)["params"]["input"] == {
        "status": "skipped",
        "answers": {},
    }
    expect(last_reply(page)).to_contain_text("Added with normal priority.")
    skipped = page.locator(".ck-questions.is-answered")
    expect(skipped).to_contain_text("You skipped these questions.")
    expect(skipped.locator("dd")).to_have_text(["Skipped"])
    assert "status: skipped" in " ".join(fake_provider.answer_requests()[1].user_texts())

    # Asked again, the user writes instead of answering: the question closes.
    fake_provider.call_tools(("ask_task_details", {"title": "Renew passport"}))
    fake_provider.reply("Fine, no priority then.")
    send(page, "Add renew passport")
    pending = page.get_by_role("form", name="Questions from the assistant")
    expect(pending.get_by_role("radio")).to_have_count(3)
    send(page, "Never mind the priority")
    expect(last_reply(page)).to_contain_text("Fine, no priority then.")
    expect(pending).to_have_class("ck-card ck-questions is-superseded")
    expect(pending.get_by_role("radio", name="high")).to_be_disabled()
    expect(pending).to_contain_text("Not answered: the conversation went on.")

    page.goto(f"/threads/{Message.objects.filter(type='structured_input').last().conversation_id}")
    chat_ready(page)
    closed = page.locator(".ck-questions.is-superseded")
    expect(closed).to_have_count(1)
    expect(closed.get_by_role("radio", name="low")).to_be_disabled()
