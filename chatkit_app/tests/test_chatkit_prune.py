"""``manage.py chatkit_prune``: old conversations go, with their items and files."""

from __future__ import annotations

import io
from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import timezone

from chatkit_app.management.progress import Progress
from chatkit_app.models import Attachment, Conversation, Feedback, Message, ModelUsage

from .seed_conversations import bulk_conversations, full_conversation

pytestmark = pytest.mark.django_db


def prune(*args: str) -> str:
    out = StringIO()
    call_command("chatkit_prune", *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def age(conversation_id: str, days: int) -> None:
    Conversation.objects.filter(pk=conversation_id).update(
        updated_at=timezone.now() - timedelta(days=days)
    )


@pytest.fixture
def old_and_new(alice, bob):
    """thr_full (with a file) and thr_b00000 idle for 100 days, the rest recent."""
    full_conversation(alice)
    bulk_conversations(bob, conversations=3, items_each=4, prefix="b")
    age("thr_full", 100)
    age("thr_b00000", 100)
    age("thr_b00001", 10)


def test_it_deletes_conversations_idle_longer_than_the_age_with_items_and_files(
    old_and_new, django_capture_on_commit_callbacks
):
    stored_file = Attachment.objects.get(pk="atc_f").file.name
    assert default_storage.exists(stored_file)

    with django_capture_on_commit_callbacks(execute=True):
        out = prune("--older-than", "90d")

    assert out.startswith("Deleted 2 conversations, 15 items and 2 attachments")
    assert set(Conversation.objects.values_list("pk", flat=True)) == {"thr_b00001", "thr_b00002"}
    assert not Message.objects.filter(conversation_id__in=["thr_full", "thr_b00000"]).exists()
    assert not Feedback.objects.exists()
    assert not Attachment.objects.exists()
    assert not default_storage.exists(stored_file)
    # Usage stays for cost reports, detached from the deleted conversation.
    assert ModelUsage.objects.get().conversation is None


def test_running_it_again_deletes_nothing_more(old_and_new):
    prune("--older-than", "90d")
    assert prune("--older-than", "90d").startswith("Deleted 0 conversations, 0 items")
    assert Conversation.objects.count() == 2


def test_dry_run_counts_and_deletes_nothing(old_and_new):
    out = prune("--older-than", "90d", "--dry-run")
    assert out.startswith("Would delete 2 conversations, 15 items and 2 attachments")
    assert out.endswith("Nothing was deleted.")
    assert Conversation.objects.count() == 4


def test_status_limits_it_to_closed_conversations(old_and_new):
    Conversation.objects.filter(pk="thr_b00000").update(status="closed")

    out = prune("--older-than", "90d", "--status", "closed")

    assert out.startswith("Deleted 1 closed conversations, 4 items and 0 attachments")
    assert not Conversation.objects.filter(pk="thr_b00000").exists()
    assert Conversation.objects.filter(pk="thr_full").exists()


def test_the_age_takes_minutes_hours_days_and_weeks(old_and_new):
    assert prune("--older-than", "20w", "--dry-run").startswith("Would delete 0 conv")
    assert prune("--older-than", "2w", "--dry-run").startswith("Would delete 2 conv")
    assert prune("--older-than", "24h", "--dry-run").startswith("Would delete 3 conv")
    # The newest was last active two minutes ago.
    assert prune("--older-than", "1m", "--dry-run").startswith("Would delete 4 conv")


@pytest.mark.parametrize("value", ["90", "ninety days", "0d", "-5d", "3y"])
def test_a_bad_age_is_refused(db, value):
    with pytest.raises(CommandError, match="expected a positive number and a unit"):
        prune(f"--older-than={value}")


def test_small_batches_delete_everything_they_should(alice):
    bulk_conversations(alice, conversations=7, items_each=2)
    Conversation.objects.update(updated_at=timezone.now() - timedelta(days=40))

    out = prune("--older-than", "30d", "--batch-size", "3")

    assert out.startswith("Deleted 7 conversations, 14 items")
    assert not Conversation.objects.exists()


def test_the_help_says_what_it_does(capsys):
    with pytest.raises(SystemExit):
        call_command("chatkit_prune", "--help")
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "--older-than AGE" in text
    assert "--dry-run" in text
    assert "attachment rows and stored files" in text


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_plain_counts_otherwise():
    terminal = Terminal()
    with Progress(terminal, total=10, label="Pruned") as progress:
        for _ in range(10):
            progress.update()
    assert "\r" in terminal.getvalue()
    assert "10/10" in terminal.getvalue()

    log = io.StringIO()
    with Progress(log, total=10, label="Pruned", every=0) as progress:
        for _ in range(10):
            progress.update()
    lines = log.getvalue().splitlines()
    assert lines[0] == "Pruned: 1/10 conversations"
    assert lines[-1] == "Pruned: 10/10 conversations"
    assert "\r" not in log.getvalue()
