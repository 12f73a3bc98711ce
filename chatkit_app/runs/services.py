"""
The ``ReplyRun`` rows: a run's record in the database, shared by every
server process (who is answering which thread, heartbeats, stop requests),
and recovery of the runs of a process that died.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from .. import services as core_services
from ..conf import chatkit_settings
from ..ids import generate_id
from ..models import Conversation, ReplyRun
from ..statements import insert_row, update_columns

#: This process, as written in ``ReplyRun.process``.
PROCESS = f"{socket.gethostname()}:{os.getpid()}"


def stale_after() -> timedelta:
    """A running reply whose heartbeat is older than this lost its process."""
    return timedelta(seconds=3 * float(chatkit_settings.RUN_HEARTBEAT_SECONDS))


def _alive_since() -> datetime:
    return timezone.now() - stale_after()


def run_start(*, run_id: str, owner: AbstractBaseUser, conversation_id: str) -> None:
    # Statements built once (``statements``): every turn starts and ends a run.
    insert_row(ReplyRun(id=run_id, owner=owner, conversation_id=conversation_id, process=PROCESS))


def run_beat(*, run_id: str, partial: list[dict]) -> bool:
    """Write the heartbeat and the text so far; whether someone asked
    (through the database) for the run to stop."""
    beaten = ReplyRun.objects.filter(
        pk=run_id, status=ReplyRun.Status.RUNNING, stop_requested=False
    ).update(heartbeat_at=timezone.now(), partial=partial)
    if beaten:
        return False  # one statement per beat while nobody asks to stop
    # Asked to stop, or no longer running (recovered as if its process had
    # died): the heartbeat is written as before, only a stop request stops.
    ReplyRun.objects.filter(pk=run_id, status=ReplyRun.Status.RUNNING).update(
        heartbeat_at=timezone.now(), partial=partial
    )
    return ReplyRun.objects.filter(pk=run_id, stop_requested=True).exists()


def run_detach(*, run_id: str, owner: AbstractBaseUser) -> bool:
    """The run lost its last reader: whether it may go on in the background
    (at most ``CHATKIT_MAX_BACKGROUND_RUNS`` per user)."""
    with transaction.atomic():
        ReplyRun.objects.filter(pk=run_id).update(detached=True)
        background = (
            ReplyRun.objects.filter(
                owner=owner,
                status=ReplyRun.Status.RUNNING,
                detached=True,
                heartbeat_at__gte=_alive_since(),
            )
            .exclude(pk=run_id)
            .count()
        )
    return background < int(chatkit_settings.MAX_BACKGROUND_RUNS)


def run_finish(*, run_id: str, status: str, reason: str = "") -> None:
    update_columns(
        ReplyRun,
        {"status": status, "reason": reason, "finished_at": timezone.now(), "partial": []},
        {"id": run_id, "status": ReplyRun.Status.RUNNING},
    )


def run_request_stop(*, owner: AbstractBaseUser, conversation_id: str) -> str | None:
    """Flag the thread's running reply to stop; its id, or None if none runs."""
    run = run_running(owner=owner, conversation_id=conversation_id)
    if run is None:
        return None
    ReplyRun.objects.filter(pk=run.pk).update(stop_requested=True)
    return run.pk


def run_running(*, owner: AbstractBaseUser, conversation_id: str) -> ReplyRun | None:
    """The owner's reply being written in this thread, if its process is alive."""
    return (
        ReplyRun.objects.filter(
            owner=owner,
            conversation_id=conversation_id,
            status=ReplyRun.Status.RUNNING,
            heartbeat_at__gte=_alive_since(),
        )
        .order_by("-started_at")
        .first()
    )


def threads_answering(*, owner: AbstractBaseUser, thread_ids: Iterable[str]) -> set[str]:
    """Which of these threads of ``owner`` have a reply being written."""
    ids = list(thread_ids)
    if not ids:
        return set()
    return set(
        ReplyRun.objects.filter(
            owner=owner,
            conversation_id__in=ids,
            status=ReplyRun.Status.RUNNING,
            heartbeat_at__gte=_alive_since(),
        ).values_list("conversation_id", flat=True)
    )


def _process_gone(process: str) -> bool:
    """Whether ``host:pid`` names a process of this host that no longer runs."""
    host, _, pid = process.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or process == PROCESS:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def runs_recover(*, now: datetime | None = None) -> int:
    """Mark the replies of processes that died as interrupted, keeping what
    they had written (as a stopped reply is kept: the partial answer marked
    interrupted, and the SDK's "user cancelled" note). A run is dead when its
    heartbeat is stale, or at once when its process was on this host and is
    gone (a restarted worker). The number recovered."""
    now = now or timezone.now()
    # Never this process's own runs: they are alive, however late their
    # heartbeat (a busy database can hold one up).
    candidates = (
        ReplyRun.objects.filter(status=ReplyRun.Status.RUNNING)
        .exclude(process=PROCESS)
        .only("id", "process", "heartbeat_at")
    )
    dead = [
        run.pk
        for run in candidates
        if run.heartbeat_at < now - stale_after() or _process_gone(run.process)
    ]
    recovered = 0
    for run_id in dead:
        recovered += _recover(run_id)
    return recovered


@transaction.atomic
def _recover(run_id: str) -> int:
    # Imported here: the SDK's server takes seconds to import, and the
    # commands that call runs_recover (chatkit_check, chatkit_prune) mostly
    # find nothing to recover.
    from chatkit.types import SDKHiddenContextItem

    from ..server import CANCELLED_NOTE
    from .progress import partial_items

    run = (
        ReplyRun.objects.select_for_update()
        .filter(pk=run_id, status=ReplyRun.Status.RUNNING)
        .select_related("owner")
        .first()
    )
    if run is None:  # another process recovered it first
        return 0
    note = SDKHiddenContextItem(
        id=generate_id("sdk_hidden_context"),
        thread_id=run.conversation_id,
        created_at=timezone.now(),
        content=CANCELLED_NOTE,
    )
    if Conversation.objects.filter(pk=run.conversation_id).exists():
        core_services.stopped_reply_keep(
            owner=run.owner,
            conversation_id=run.conversation_id,
            partial=list(partial_items(run.partial)),
            note=note,
        )
    run.status = ReplyRun.Status.INTERRUPTED
    run.reason = "crash"
    run.finished_at = timezone.now()
    run.partial = []
    run.save(update_fields=["status", "reason", "finished_at", "partial"])
    return 1


def generate_run_id() -> str:
    return uuid.uuid4().hex
