"""What one /chatkit request costs the server: its body is parsed once, a
thread's title never holds its reply back, and a turn runs a fixed, small
number of SQL queries."""

from __future__ import annotations

import json
import time

import pytest
from chatkit.types import ChatKitReq
from pydantic import TypeAdapter

from chatkit_app.models import Conversation, ModelUsage

from .chatkit_client import (
    ApiClient,
    add_message,
    create_thread,
    hang_up_after,
    parse_sse,
    streamed_text,
)
from .conftest import fake_provider_env
from .fake_provider import Behaviour
from .live_daphne import start_daphne, token_client, wait_until

pytestmark = pytest.mark.django_db

#: Seconds the title model takes in the tests of a slow title.
TITLE_DELAY = 3.5  # under CHATKIT_REQUEST_TIMEOUT (5 s) of the tests


@pytest.fixture
def request_parses(monkeypatch) -> list[str]:
    """The ChatKit request bodies parsed (by any ``TypeAdapter`` of a
    ChatKit request, ours or one the SDK builds), as the mode of each parse."""
    parses: list[str] = []
    for mode in ("validate_json", "validate_python"):
        original = getattr(TypeAdapter, mode)

        def counting(self, *args, _original=original, _mode=mode, **kwargs):
            if self._type is ChatKitReq:
                parses.append(_mode)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(TypeAdapter, mode, counting)
    return parses


def test_a_listing_request_is_parsed_once(alice, request_parses):
    api = ApiClient(alice)
    response = api({"type": "threads.list", "params": {"limit": 5}})
    assert response.status_code == 200, response.content
    assert request_parses == ["validate_json"]


def test_a_turn_is_parsed_once_from_the_first_event_to_the_last(alice, request_parses):
    api = ApiClient(alice)
    thread_id, events = api.start("Hello there")
    assert events[-1]["type"] != "error"
    assert request_parses == ["validate_json"]

    request_parses.clear()
    events = api(add_message(thread_id, "And again")).events()
    assert [e for e in events if e["type"] == "thread.item.done"]
    assert request_parses == ["validate_json"]


# --- the title beside the reply ------------------------------------------------------


@pytest.fixture(scope="module")
def daphne_server(django_db_setup, django_db_blocker, fake_provider_server):
    with start_daphne(
        fake_provider_env(fake_provider_server, "chat_completions"), timeout=90
    ) as live:
        yield live


@pytest.fixture
def http(daphne_server, alice, fake_provider):
    """A client of the live server, after a first turn: the first one a
    server process answers also pays for loading the model path."""
    with token_client(daphne_server, alice) as client:
        client.post("/chatkit", content=json.dumps(create_thread("Warm up")))
        Conversation.objects.all().delete()
        ModelUsage.objects.all().delete()
        fake_provider.reset()
        yield client


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_a_slow_title_does_not_hold_the_reply_back_and_is_stored_after_it(http, fake_provider):
    fake_provider.queue(
        Behaviour(text="Slow title", first_token_delay=TITLE_DELAY, for_non_streaming=True)
    )
    started = time.monotonic()
    response = http.post("/chatkit", content=json.dumps(create_thread("Name this later")))
    streamed_for = time.monotonic() - started
    events = parse_sse(response.content)
    thread_id = events[0]["thread"]["id"]

    assert streamed_text(events) == "Echo: Name this later"
    assert streamed_for < TITLE_DELAY, "the stream waited for the title"
    assert not [e for e in events if e["type"] == "thread.updated"]
    assert Conversation.objects.get(pk=thread_id).title == ""

    # Stored once the title model answers, and seen in the next list.
    wait_until(lambda: Conversation.objects.get(pk=thread_id).title == "Slow title", 15)
    listed = http.post("/chatkit", json={"type": "threads.list", "params": {"limit": 5}})
    assert listed.json()["data"][0]["title"] == "Slow title"
    assert wait_until(lambda: ModelUsage.objects.filter(purpose="title").exists())


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_a_client_that_leaves_mid_reply_still_gets_its_thread_titled(http, fake_provider):
    fake_provider.reply(" ".join(f"word{n}" for n in range(60)), chunk_delay=0.05)
    fake_provider.queue(
        Behaviour(text="Named anyway", first_token_delay=1.0, for_non_streaming=True)
    )
    thread_id = hang_up_after(http, create_thread("Leave early"), updates=3)
    wait_until(lambda: Conversation.objects.get(pk=thread_id).title == "Named anyway", 15)


# --- SQL per turn ---------------------------------------------------------------------

#: SQL statements of a whole turn, counted over a real in-process ASGI
#: request with the fake provider (first: threads.create with its title;
#: follow-up: threads.add_user_message), on either database. Savepoints
#: count; BEGIN and COMMIT do not (SQLite sends them as statements,
#: PostgreSQL's driver does not). What the data needs: authenticate (the
#: token, with the user and their limits), the thread (inserted, or loaded once), each item stored
#: (claim its sequence number, insert it), the history read once, the
#: thread's title, one insert of the usage rows; the reply run's row,
#: inserted and finished (what lets another process follow the reply and
#: recovery find a dead one, ``runs/``); on a follow-up, the thread's
#: handoff (``handoff/``; a thread the request creates has none).
#: (Before: 28 and 22; 12 and 12 while the limits had a query of their own.)
FIRST_TURN_QUERIES = 11
FOLLOW_UP_QUERIES = 11
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")


def queries_of(api: ApiClient, body) -> tuple[list[str], list[dict]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        events = api(body).events()
    statements = [query["sql"] for query in captured.captured_queries]
    return [sql for sql in statements if not sql.startswith(TRANSACTION_CONTROL)], events


@pytest.fixture
def no_heartbeat(settings):
    """A reply's heartbeat is a write per interval (5 s), not per turn: on a
    loaded machine a counted turn can outlast one."""
    settings.CHATKIT_RUN_HEARTBEAT_SECONDS = 600


@pytest.mark.django_db(transaction=True)
def test_a_turn_runs_a_fixed_small_number_of_sql_queries(
    alice, provider, monkeypatch, no_heartbeat
):
    from chatkit_app.runs import owner

    def swept_just_now() -> None:
        # The recovery of dead processes' runs is one query per process every
        # stale interval, made by whichever request comes then (CI: the
        # follow-up, 15 s after an earlier module's sweep): not the turn's.
        monkeypatch.setattr(owner, "_last_sweep", time.monotonic())

    api = ApiClient(alice)
    api({"type": "threads.list", "params": {}})  # the token's first use is noted once
    # Words that take longer than the title, so that it goes out with the stream.
    provider.reply("A reply of a few words, streamed slowly.", chunk_delay=0.05)
    swept_just_now()
    first, events = queries_of(api, create_thread("Count my queries"))
    assert [e for e in events if e["type"] == "thread.updated"][-1]["thread"]["title"]
    swept_just_now()
    follow_up, events = queries_of(api, add_message(events[0]["thread"]["id"], "And again"))
    assert streamed_text(events) == "Echo: And again"

    assert len(first) <= FIRST_TURN_QUERIES, "\n".join(first)
    assert len(follow_up) <= FOLLOW_UP_QUERIES, "\n".join(follow_up)


# --- live publishing -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_turn_nobody_watches_publishes_nothing_and_a_watched_one_does(alice, monkeypatch):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from chatkit_app.live import publish
    from chatkit_app.live.events import ACTIVITY_GROUP

    hops: list[object] = []
    real_async_to_sync = publish.async_to_sync

    def counting(function):
        hops.append(function)
        return real_async_to_sync(function)

    monkeypatch.setattr(publish, "async_to_sync", counting)
    api = ApiClient(alice)
    api.start("Nobody is watching")
    assert hops == [], "an event was sent (from the database thread) with nobody to see it"

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(ACTIVITY_GROUP, channel)
    try:
        api.start("Somebody is watching")
        assert hops
        message = async_to_sync(layer.receive)(channel)
        assert message["event"]["kind"] == "conversation.created"
    finally:
        async_to_sync(layer.group_discard)(ACTIVITY_GROUP, channel)


#: Trips from the event loop to a thread for database work (``db_call``)
#: over a whole turn: authenticate, store the thread (created, or loaded
#: once), each of the two items, start the reply run, read the history,
#: the usage rows, finish the run; on a first turn the title, on a
#: follow-up the thread's handoff. A message with no files makes no trip
#: to check them. Each trip is a thread handoff and back, which costs more
#: CPU than most of the statements sent in it.
FIRST_TURN_TRIPS = 9
FOLLOW_UP_TRIPS = 9


@pytest.mark.django_db(transaction=True)
def test_a_turn_makes_a_fixed_small_number_of_trips_to_the_database(
    alice, provider, monkeypatch, no_heartbeat
):
    from asgiref.sync import SyncToAsync

    from chatkit_app.runs import owner

    trips: list[str] = []
    real_call = SyncToAsync.__call__

    def counting(self, *args, **kwargs):
        wrapped = getattr(self.func, "__wrapped__", None)  # db_call's functions
        if wrapped is not None and wrapped.__module__.startswith("chatkit_app."):
            trips.append(wrapped.__qualname__)
        return real_call(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counting)
    api = ApiClient(alice)
    api({"type": "threads.list", "params": {}})
    provider.reply("A reply of a few words, streamed slowly.", chunk_delay=0.05)
    monkeypatch.setattr(owner, "_last_sweep", time.monotonic())  # not the turn's
    trips.clear()
    _, events = api.start("Count my trips")
    first = list(trips)
    trips.clear()
    events = api(add_message(events[0]["thread"]["id"], "And again")).events()
    assert streamed_text(events) == "Echo: And again"

    assert len(first) <= FIRST_TURN_TRIPS, first
    assert len(trips) <= FOLLOW_UP_TRIPS, trips
