"""What the usage limits' tests share: the fake provider answering every
turn, a controllable clock, and reading a refused turn's stream."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from .chatkit_client import events_of, streamed_text
from .conftest import fake_provider_settings

# Mid-month and mid-day, so no period ends during a test unless it travels.
NOON = datetime(2026, 12, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def answers(settings, fake_provider):
    """The fake provider answers every turn (11 input + 7 output tokens)."""
    for name, value in fake_provider_settings(fake_provider, "responses").items():
        setattr(settings, name, value)
    settings.CHATKIT_GENERATE_TITLES = False
    return fake_provider


@pytest.fixture
def clock():
    with time_machine.travel(NOON, tick=True) as traveller:
        yield traveller


def refusal(events: list[dict]) -> str:
    """The one error event of a refused turn's stream, which has nothing else."""
    assert [event["type"] for event in events] == ["error"], events
    assert events[0]["allow_retry"] is False
    return events[0]["message"]


def answered(events: list[dict]) -> bool:
    return bool(streamed_text(events)) and not events_of(events, "error")
