"""
Property-based fuzzing of ``POST /chatkit`` over real HTTP.

Hypothesis builds requests from the SDK's own request types (the JSON schema
of ``TypeAdapter(ChatKitReq)``, one variant per request type), then mutates
them: wrong types, missing and extra fields, huge strings and numbers, deep
nesting, NUL, unpaired surrogates, right-to-left overrides, invalid UTF-8,
truncated JSON, and the ids of another user's threads, items and
attachments. Each body goes to a real daphne process (the fake model
provider answers) as alice while bob owns data, and must get an answer a
client can handle: never a 5xx, finished within a bound (streams end), a
JSON error body for every refusal, no traceback or ERROR in the server's
log, and bob's rows exactly as they were.

``CHATKIT_TEST_FUZZ_EXAMPLES`` sets the number of requests (default 200,
about a minute); the README says how to run 10,000. (test_settings drops
other ``CHATKIT_*`` variables, so the name keeps the ``CHATKIT_TEST_`` prefix.)
"""

from __future__ import annotations

import json
import os
import re
import time
import warnings
from collections import Counter
from typing import Any

import httpx
import pytest
from chatkit.types import ChatKitReq
from django.core import serializers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from chatkit_app.models import Attachment, Conversation, Feedback, Message
from chatkit_app.storable_text import UNSTORABLE

from .chatkit_client import create_thread, parse_sse
from .conftest import fake_provider_env
from .live_daphne import start_daphne, token_client

EXAMPLES = int(os.environ.get("CHATKIT_TEST_FUZZ_EXAMPLES", "200"))
# Every response, streamed or not, must be complete within this many seconds.
RESPONSE_BOUND = float(os.environ.get("CHATKIT_TEST_FUZZ_RESPONSE_SECONDS", "20"))

pytestmark = [
    pytest.mark.live,
    pytest.mark.fuzz,
    pytest.mark.django_db(transaction=True),
    # pytest.ini's 120 s is for one test; a long run is many requests.
    pytest.mark.timeout(max(120, EXAMPLES * 2)),
]

with warnings.catch_warnings():
    # Pydantic warns that a TypeVar default is not JSON; the schema is fine.
    warnings.simplefilter("ignore")
    SCHEMA = TypeAdapter(ChatKitReq).json_schema()
DEFS: dict[str, Any] = SCHEMA["$defs"]
REQUEST_TYPES = [ref["$ref"].rsplit("/", 1)[-1] for ref in SCHEMA["oneOf"]]

# Fields (and arrays of them) that name a stored object, and what kind of
# object: filled with real ids of that kind, alice's and bob's, most of the
# time. (``after`` is a thread id in threads.list, an item id in items.list.)
ID_FIELDS = {
    "thread_id": "thread",
    "item_id": "item",
    "item_ids": "item",
    "attachment_id": "attachment",
    "attachments": "attachment",
    "after": "any",
}

# (alice's own ids, bob's ids and ids of nothing), by kind: "thread",
# "item", "attachment" and "any".
Ids = tuple[dict[str, list[str]], dict[str, list[str]]]

NASTY_STRINGS = [
    "",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff",
    "x\udc80y",
    "\u202eevil\u202c",  # right-to-left override
    "\u200f\u0627\u0644\u0639\u0631\u0628\u064a\u0629",  # RTL mark + Arabic
    "\ufeff",
    "\uffff",
    "\U0010ffff",
    "e\u0301\u0301\u0301",
    "\U0001f469\u200d\U0001f469\u200d\U0001f467",
    "<script>alert(1)</script>",
    "javascript:alert(1)",
    "' OR 1=1 --",
    "../../../etc/passwd",
    "%00",
    "\\u0000",
    "null",
    "thr_" + "9" * 300,
]
# Raw JSON text put in place of a value after encoding: things json.dumps
# will not write (non-standard numbers, nesting deeper than any parser's
# recursion limit, numbers longer than Python converts).
RAW_TOKENS = [
    "Infinity",
    "-Infinity",
    "NaN",
    "1e999",
    "-0",
    "1" * 5000,
    "[" * 3000 + "]" * 3000,
    '{"a":' * 1500 + "1" + "}" * 1500,
    "[" * 150 + "]" * 150,
]
RAW_MARK = "\x01raw{}\x01"

# Text a well-behaved client sends, in any script, sometimes long.
CLEAN_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40),
    st.sampled_from([text for text in NASTY_STRINGS if not UNSTORABLE.search(text)]),
    st.builds(
        lambda unit, count: unit * count,
        # No spaces: the fake provider echoes the message word by word, and
        # 100,000 words would time the echo, not the site.
        st.sampled_from(["a", "\u00e9", "\U0001f469\u200d\U0001f467", "\u202e"]),
        st.integers(1000, 100_000),
    ),
)
# Anything at all, for mutations.
TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(NASTY_STRINGS),
    st.builds(
        lambda unit, count: unit * count,
        st.sampled_from(["a", "\u00e9", "\U0001f469\u200d\U0001f467", "\u202e", "\x00"]),
        st.integers(1, 300_000),
    ),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)
CLEAN_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | CLEAN_TEXT,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(CLEAN_TEXT, children, max_size=3)
    ),
    max_leaves=6,
)


def from_schema(schema: dict[str, Any], ids: Ids, field: str = "") -> st.SearchStrategy:
    """Values valid for ``schema`` (the subset of JSON schema pydantic
    writes), with id fields drawn mostly from ``ids``."""
    if "$ref" in schema:
        return from_schema(DEFS[schema["$ref"].rsplit("/", 1)[-1]], ids, field)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return st.one_of([from_schema(option, ids, field) for option in schema[key]])
    kind = schema.get("type")
    if kind == "string":
        if field in ID_FIELDS:
            kind = ID_FIELDS[field]
            own, foreign = current(ids[0], kind), st.sampled_from(ids[1][kind])
            return st.one_of(own, own, own, foreign, CLEAN_TEXT)
        return CLEAN_TEXT
    if kind == "integer":
        return st.integers(min_value=-5, max_value=200) | st.integers()
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {}), ids, field), max_size=4)
    if kind == "object":
        properties = schema.get("properties", {})
        if properties:
            # The discriminator ``type`` has a default, but a request
            # without it cannot be routed: always send it.
            required = set(schema.get("required", [])) | {
                name for name, sub in properties.items() if "const" in sub
            }
            return st.fixed_dictionaries(
                {name: from_schema(properties[name], ids, name) for name in required},
                optional={
                    name: from_schema(sub, ids, name)
                    for name, sub in properties.items()
                    if name not in required
                },
            )
        extra = schema.get("additionalProperties")
        values = from_schema(extra, ids) if isinstance(extra, dict) else CLEAN_JSON_VALUES
        return st.dictionaries(CLEAN_TEXT, values, max_size=3)
    return CLEAN_JSON_VALUES  # ``Any`` (tool results, action payloads)


def current(pool: dict[str, list[str]], kind: str) -> st.SearchStrategy:
    """One of ``pool[kind]`` as it is when drawn: alice may delete her own
    thread (a valid request), and the test then gives her a new one."""
    return st.integers(0, len(pool[kind]) - 1).map(lambda index: pool[kind][index])


def paths_in(value: Any, path: tuple = ()) -> list[tuple]:
    """Every position in a JSON value, the root first."""
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(paths_in(child, (*path, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(paths_in(child, (*path, index)))
    return found


def replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], rest, new)}
    copy = list(value)
    copy[head] = replaced(copy[head], rest, new)
    return copy


def removed(value: Any, path: tuple) -> Any:
    if len(path) == 1:
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k != path[0]}
        return value[: path[0]] + value[path[0] + 1 :]
    head = path[0]
    if isinstance(value, dict):
        return {**value, head: removed(value[head], path[1:])}
    copy = list(value)
    copy[head] = removed(copy[head], path[1:])
    return copy


def lookup(value: Any, path: tuple) -> Any:
    for step in path:
        value = value[step]
    return value


@st.composite
def mutated(draw, value: Any, ids: Ids) -> Any:
    """``value`` with one thing changed: a value of the wrong type or size,
    a field removed, an unexpected field added, or another user's id."""
    path = draw(st.sampled_from(paths_in(value)))
    action = draw(st.sampled_from(["replace", "replace", "id", "remove", "add", "raw"]))
    if action == "remove" and path:
        return removed(value, path)
    if action == "add":
        target = lookup(value, path)
        if isinstance(target, dict):
            return replaced(value, path, {**target, draw(TEXT): draw(JSON_VALUES)})
    if action == "id":
        foreign = st.sampled_from(ids[1]["any"])
        return replaced(value, path, draw(foreign | st.lists(foreign, min_size=1)))
    if action == "raw":
        return replaced(value, path, RAW_MARK.format(draw(st.integers(0, len(RAW_TOKENS) - 1))))
    return replaced(value, path, draw(JSON_VALUES))


def encode(value: Any, *, ascii_only: bool) -> bytes:
    """JSON bytes; unpaired surrogates become invalid UTF-8 when not escaped."""
    text = json.dumps(value, ensure_ascii=ascii_only)
    for index, token in enumerate(RAW_TOKENS):
        text = text.replace(json.dumps(RAW_MARK.format(index), ensure_ascii=ascii_only), token)
    return text.encode("utf-8", "surrogatepass")


@st.composite
def chatkit_bodies(draw, ids: Ids) -> bytes:
    request_type = draw(st.sampled_from(REQUEST_TYPES))
    value = draw(from_schema(DEFS[request_type], ids))
    # Half the requests are valid (they reach the store and the model),
    # the rest are changed up to three times.
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))):
        value = draw(mutated(value, ids))
    body = encode(value, ascii_only=draw(st.booleans()))
    damage = draw(st.sampled_from(["none"] * 12 + ["truncate", "garbage"]))
    if damage == "truncate" and body:
        body = body[: draw(st.integers(0, len(body) - 1))]
    elif damage == "garbage":
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.binary(min_size=1, max_size=20)) + body[at:]
    return body


# --- the live site and its data ---------------------------------------------------


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, fake_provider_server, tmp_path_factory):
    env = fake_provider_env(fake_provider_server, "responses")
    env["CHATKIT_TEST_MEDIA_ROOT"] = str(tmp_path_factory.mktemp("fuzz-media"))
    with start_daphne(env, timeout=90) as live:
        yield live


def post(client: httpx.Client, body: Any) -> httpx.Response:
    return client.post("/chatkit", content=json.dumps(body))


def owned_data(client: httpx.Client, label: str) -> dict[str, list[str]]:
    """A thread with a question and an answer, feedback on the answer and an
    attachment: ids of each kind for the fuzzer to aim at."""
    events = parse_sse(post(client, create_thread(f"{label}'s private question")).content)
    thread_id = events[0]["thread"]["id"]
    items = post(client, {"type": "items.list", "params": {"thread_id": thread_id}}).json()
    by_type = {item["type"]: item["id"] for item in items["data"]}
    answer = by_type["assistant_message"]
    # Always two, so that a new set of alice's ids has the same shape.
    item_ids = [by_type["user_message"], answer]
    feedback = {
        "type": "items.feedback",
        "params": {"thread_id": thread_id, "item_ids": [answer], "kind": "positive"},
    }
    assert post(client, feedback).status_code == 200
    attachment = post(
        client,
        {
            "type": "attachments.create",
            "params": {"name": f"{label}.txt", "size": 10, "mime_type": "text/plain"},
        },
    ).json()
    ids = {"thread": [thread_id], "item": item_ids, "attachment": [attachment["id"]]}
    return {**ids, "any": [thread_id, *item_ids, attachment["id"]]}


def bobs_rows(bob) -> str:
    rows = [
        *Conversation.objects.filter(owner=bob).order_by("pk"),
        *Message.objects.filter(conversation__owner=bob).order_by("pk"),
        *Attachment.objects.filter(owner=bob).order_by("pk"),
        *Feedback.objects.filter(user=bob).order_by("pk"),
    ]
    return serializers.serialize("json", rows)


LOG_PROBLEM = re.compile(r"Traceback|^\S+ \S+ (ERROR|CRITICAL) ", re.MULTILINE)


def check_answer(response: httpx.Response, body: bytes, elapsed: float) -> None:
    shown = body[:300]
    assert response.status_code < 500, (response.status_code, response.content[:500], shown)
    assert elapsed < RESPONSE_BOUND, (elapsed, shown)
    content_type = response.headers.get("content-type", "")
    if response.status_code >= 300:
        assert content_type.startswith("application/json"), (response.status_code, shown)
        error = response.json()["error"]
        assert isinstance(error["code"], str), response.content
        assert isinstance(error["message"], str), response.content
        assert error["code"], response.content
        assert error["message"], response.content
    elif content_type.startswith("text/event-stream"):
        events = parse_sse(response.content)
        assert all(isinstance(event.get("type"), str) for event in events), response.content
    else:
        assert content_type.startswith("application/json"), (content_type, shown)
        response.json()


def test_no_request_alice_can_send_breaks_the_site_or_touches_bobs_data(server, alice, bob):
    with token_client(server, bob) as bob_http, token_client(server, alice) as alice_http:
        missing = {"thread": ["thr_missing"], "item": ["msg_missing"], "attachment": ["atc_x"]}
        bobs = owned_data(bob_http, "bob")
        foreign = {kind: [*bobs[kind], *missing.get(kind, [""])] for kind in bobs}
        ids = (owned_data(alice_http, "alice"), foreign)
        bob_before = bobs_rows(bob)
        statuses: Counter[int] = Counter()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(body=chatkit_bodies(ids))
        def send(body: bytes) -> None:
            log_start = len(server.log())
            started = time.monotonic()
            with alice_http.stream(
                "POST", "/chatkit", content=body, timeout=RESPONSE_BOUND
            ) as response:
                response.read()
            check_answer(response, body, time.monotonic() - started)
            statuses[response.status_code] += 1
            problem = LOG_PROBLEM.search(server.log(), log_start)
            if problem is not None:
                pytest.fail(f"{body[:300]!r} logged:\n{server.log()[problem.start() :][:3000]}")
            assert bobs_rows(bob) == bob_before, body[:300]
            if not Conversation.objects.filter(pk=ids[0]["thread"][0]).exists():
                # Same shape, so the strategies' indexes still fit.
                ids[0].update(owned_data(alice_http, "alice"))

        send()

    print(f"fuzzed {sum(statuses.values())} requests: {dict(sorted(statuses.items()))}")
    # Both sides of the boundary were reached: requests the site carried
    # out, and requests it refused.
    assert any(200 <= status < 300 for status in statuses), statuses
    assert any(400 <= status < 500 for status in statuses), statuses
