"""Real model answers through the fake provider, on both wire formats
(OpenAI's Responses API and an OpenAI-compatible Chat Completions API):
streaming, history, instructions, model choice, titles, retry, usage."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from chatkit_app.models import Conversation, Message, ModelUsage
from chatkit_app.responders.agent import prepare_turn
from chatkit_app.serialization import thread_from_conversation

from .chatkit_client import ApiClient, add_message, create_thread, streamed_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_alice(alice) -> ApiClient:
    return ApiClient(alice)


def test_the_answer_streams_from_the_provider_and_is_stored(provider, as_alice):
    provider.reply("Django is a web framework for perfectionists.")
    thread_id, events = as_alice.start("What is Django?")

    assert streamed_text(events) == "Django is a web framework for perfectionists."
    deltas = [e for e in events if e["type"] == "thread.item.updated"]
    assert len(deltas) > 3, "the answer arrives in pieces"
    rows = list(Message.objects.filter(conversation_id=thread_id).values_list("role", "text"))
    assert rows == [
        ("user", "What is Django?"),
        ("assistant", "Django is a web framework for perfectionists."),
    ]
    assert provider.answer_requests()[0].path.endswith(
        "/responses" if provider.wire == "responses" else "/chat/completions"
    )


def test_every_assistant_message_gets_its_own_id(provider, as_alice):
    # The Chat Completions path names every message "__fake_id__"; stored ids
    # must still be unique, across turns and threads.
    thread_id, _ = as_alice.start("one")
    as_alice(add_message(thread_id, "two"))
    as_alice.start("three")
    ids = list(Message.objects.filter(role="assistant").values_list("id", flat=True))
    assert len(ids) == len(set(ids)) == 3
    assert all(i.startswith("msg_") and "fake" not in i for i in ids)


def test_the_second_turn_sends_the_first_answer_as_history(provider, as_alice):
    provider.reply("First answer.")
    thread_id, _ = as_alice.start("First question")
    provider.reply("Second answer.")
    second = as_alice(add_message(thread_id, "Second question")).events()

    assert streamed_text(second) == "Second answer."
    sent = provider.answer_requests()[-1].messages()
    assert sent[1:] == [
        ("user", "First question"),
        ("assistant", "First answer."),
        ("user", "Second question"),
    ]


def test_exactly_the_last_n_items_reach_the_provider(provider, as_alice, settings):
    settings.CHATKIT_HISTORY_ITEMS = 5
    thread_id, _ = as_alice.start("q1")
    for n in range(2, 5):
        as_alice(add_message(thread_id, f"q{n}"))

    sent = provider.answer_requests()[-1].messages()
    assert sent[0][0] == "system"
    # 8 items stored before the last answer (q1..q4 and three answers, plus
    # q4 itself): the last five of them, oldest first.
    assert sent[1:] == [
        ("user", "q2"),
        ("assistant", "Echo: q2"),
        ("user", "q3"),
        ("assistant", "Echo: q3"),
        ("user", "q4"),
    ]


def test_history_is_loaded_with_one_query(
    provider, as_alice, alice, ctx, django_assert_num_queries
):
    thread_id, _ = as_alice.start("hello")
    thread = thread_from_conversation(Conversation.objects.get(pk=thread_id))

    with django_assert_num_queries(1):
        turn = async_to_sync(prepare_turn)(ctx(alice), thread, None)
    assert [item.type for item in turn.items] == ["user_message", "assistant_message"]


def test_the_system_prompt_setting_reaches_the_model(provider, as_alice, settings):
    settings.CHATKIT_SYSTEM_PROMPT = "You are Ada, a terse librarian."
    as_alice.start("hi")
    assert provider.answer_requests()[0].messages()[0] == (
        "system",
        "You are Ada, a terse librarian.",
    )


def test_the_task_manager_prompt_is_one_line_of_configuration(provider, as_alice, settings):
    settings.CHATKIT_SYSTEM_PROMPT_FILE = "chatkit_app/prompts/task_manager.md"
    as_alice.start("hi")
    role, prompt = provider.answer_requests()[0].messages()[0]
    assert role == "system"
    assert prompt.startswith("You are an AI assistant for a task management application.")


def extend_with_username(prompt, *, context, thread):
    return f"{prompt}\nThe user is called {context.user.get_username()}; thread {thread.id}."


def test_a_project_hook_extends_the_prompt_per_request(provider, as_alice, settings):
    settings.CHATKIT_INSTRUCTIONS_HOOK = f"{__name__}.extend_with_username"
    thread_id, _ = as_alice.start("hi")
    prompt = provider.answer_requests()[0].messages()[0][1]
    assert prompt.endswith(f"The user is called alice; thread {thread_id}.")


def test_the_users_locale_reaches_the_instructions(provider, as_alice):
    as_alice(create_thread("bonjour"), HTTP_X_CHATKIT_LOCALE="fr-FR")
    prompt = provider.answer_requests()[0].messages()[0][1]
    assert "locale is fr-FR" in prompt


def test_a_model_from_the_allowed_list_is_used(provider, as_alice, settings):
    settings.CHATKIT_MODELS = ["fake-model", "fake-large"]
    as_alice.start("hi", inference_options={"model": "fake-large"})
    assert provider.answer_requests()[0].body["model"] == "fake-large"
    usage = ModelUsage.objects.get(purpose="response")
    assert usage.model == "fake-large"


def test_a_model_outside_the_allowed_list_is_refused_and_nothing_is_stored(
    provider, as_alice, settings
):
    settings.CHATKIT_MODELS = ["fake-model"]
    response = as_alice(create_thread("hi", inference_options={"model": "gpt-9-ultra"}))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "model_not_allowed"
    assert "gpt-9-ultra" in error["message"]
    assert "fake-model" in error["message"]
    assert not Conversation.objects.exists()
    assert provider.requests == []


def test_a_title_is_generated_after_the_first_exchange(provider, as_alice):
    provider.title = "Django for beginners"
    thread_id, events = as_alice.start("How do I start learning Django?")
    updates = [e for e in events if e["type"] == "thread.updated"]
    assert updates[-1]["thread"]["title"] == "Django for beginners"
    assert Conversation.objects.get(pk=thread_id).title == "Django for beginners"
    assert len(provider.title_requests()) == 1
    assert "How do I start learning Django?" in provider.title_requests()[0].user_texts()

    as_alice(add_message(thread_id, "And then?"))
    assert len(provider.title_requests()) == 1, "only the first exchange gets a title"


def test_the_title_falls_back_to_the_first_words_when_the_model_fails(provider, as_alice):
    provider.fail(500, for_non_streaming=True)
    thread_id, _ = as_alice.start("one two three four five six seven eight")
    assert Conversation.objects.get(pk=thread_id).title == "one two three four five six…"
    assert ModelUsage.objects.get(purpose="title").error == "InternalServerError"


def test_usage_is_recorded_for_each_model_call(provider, as_alice, alice):
    provider.reply("Answer.", usage=(120, 30))
    thread_id, _ = as_alice.start("hi")
    answer = Message.objects.get(conversation_id=thread_id, role="assistant")
    usage = ModelUsage.objects.get(purpose="response")
    assert (usage.user, usage.conversation_id, usage.message_id) == (alice, thread_id, answer.id)
    assert (usage.input_tokens, usage.output_tokens) == (120, 30)
    assert usage.model == "fake-model"
    assert usage.provider == ("openai" if provider.wire == "responses" else "openai-compatible")
    assert usage.latency_ms >= 0
    assert usage.error == ""
    title = ModelUsage.objects.get(purpose="title")
    assert (title.input_tokens, title.output_tokens) == (11, 7)


def test_retry_replaces_the_answer_after_the_user_message(provider, as_alice):
    provider.reply("A bad answer.")
    thread_id, events = as_alice.start("Tell me a joke")
    user_id = next(e["item"]["id"] for e in events if e["type"] == "thread.item.done")
    provider.reply("A better joke.")

    retried = as_alice(
        {"type": "threads.retry_after_item", "params": {"thread_id": thread_id, "item_id": user_id}}
    ).events()

    assert streamed_text(retried) == "A better joke."
    texts = list(Message.objects.filter(conversation_id=thread_id).values_list("role", "text"))
    assert texts == [("user", "Tell me a joke"), ("assistant", "A better joke.")]
    assert provider.answer_requests()[-1].messages()[1:] == [("user", "Tell me a joke")]


def test_feedback_on_a_model_answer_is_stored(provider, as_alice, alice):
    thread_id, _ = as_alice.start("hi")
    answer = Message.objects.get(conversation_id=thread_id, role="assistant")
    body = {
        "type": "items.feedback",
        "params": {"thread_id": thread_id, "item_ids": [answer.id], "kind": "positive"},
    }
    assert as_alice(body).json() == {}
    assert answer.feedback.get().kind == "positive"


def test_the_openai_key_alone_selects_the_responses_api(settings):
    from chatkit_app.responders.providers import current_provider

    settings.OPENAI_API_KEY = "sk-x"
    settings.GEMINI_API_KEY = ""
    provider = current_provider()
    assert (provider.name, provider.wire, provider.model, provider.base_url) == (
        "openai",
        "responses",
        "gpt-4.1-mini",
        None,
    )


def test_the_gemini_key_alone_selects_gemini_through_its_compatible_api(settings):
    from chatkit_app.responders.providers import current_provider

    settings.OPENAI_API_KEY = ""
    settings.GEMINI_API_KEY = "gm-x"
    provider = current_provider()
    assert (provider.name, provider.wire, provider.model, provider.api_key) == (
        "gemini",
        "chat_completions",
        "gemini-2.5-flash",
        "gm-x",
    )
    assert provider.base_url == "https://generativelanguage.googleapis.com/v1beta/openai/"


def test_with_no_key_the_offline_responder_answers(settings, as_alice):
    settings.OPENAI_API_KEY = settings.GEMINI_API_KEY = ""
    _, events = as_alice.start("hello")
    assert streamed_text(events).startswith("[offline development responder]")


def test_usage_records_which_assistant_answered_and_when_its_first_words_came(provider, as_alice):
    provider.reply("One two three four.", first_token_delay=0.3, chunk_delay=0.05)
    as_alice.start("hi")
    usage = ModelUsage.objects.get(purpose="response")
    assert usage.assistant == "assistant"
    assert usage.first_token_ms is not None
    assert 300 <= usage.first_token_ms <= usage.latency_ms

    provider.reply("Your tasks.")
    as_alice.start("my tasks", inference_options={"tool_choice": {"id": "tasks"}})
    assert ModelUsage.objects.filter(purpose="response").latest("id").assistant == "tasks"
    # Titles are no assistant's answer.
    assert set(ModelUsage.objects.filter(purpose="title").values_list("assistant", flat=True)) == {
        ""
    }
