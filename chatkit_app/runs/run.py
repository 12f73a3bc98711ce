"""
``Run``: one reply's stream, consumed by a task the server owns rather than
by the HTTP request that asked for it.

The request that started the run is its first reader; the threads'
``/stream`` endpoint adds more (a reloaded page). A reader takes the
chunks written so far, then waits for more. While the first reader is
attached the run goes no faster than it reads (so a client that hangs up
stops the reply where it saw it stop, as before runs existed); once it has
gone, the run writes on alone.

Stopping must reach the SDK: its ``_process_events`` keeps the partial
reply only when a ``CancelledError`` arrives inside it. So the stream is
pulled by one task of its own (one ``contextvars`` context for every
chunk), and a stop cancels that task only while it is awaiting inside the
stream (the model, the database), never between chunks, where a
cancellation would close the stream without the SDK noticing: there the
puller sees the stop itself and is cancelled at the stream's next await.
Per chunk that costs no task, only the wake-ups of puller and reader.

Each run has a one-thread executor of its own (asgiref's
``ThreadSensitiveContext``), since it outlives the request whose executor
it would otherwise inherit; its ORM calls (``db_call``) go to the
database thread the run is given (``db.DatabaseThreads``), one at a time
and in order. It borrows one from the process's pool of
request threads (``asgi_threads.POOL``) rather than starting a thread: a
thread started for every run, and the database connection object Django
makes for each new thread, cost a turn about a millisecond of CPU. A run
has its executor to itself, so its calls run one at a time on one thread,
and it goes back to the pool only once the last of them is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine
from typing import Any

from asgiref.sync import SyncToAsync, ThreadSensitiveContext
from chatkit.types import SDKHiddenContextItem
from django.utils import timezone

from .. import services as core_services
from ..asgi_threads import POOL
from ..conf import chatkit_settings
from ..context import RequestContext
from ..db import db_call
from ..ids import generate_id
from ..models import ReplyRun
from ..server import CANCELLED_NOTE, STOPPED_REPLY_KEPT, STOPPED_REPLY_WAIT_SECONDS
from . import mirror
from . import services as run_services
from .progress import ReplyProgress, partial_items

logger = logging.getLogger(__name__)

#: Runs of this process, by id: asyncio keeps only weak references to tasks.
local_runs: dict[str, Run] = {}


class Run:
    def __init__(
        self,
        *,
        run_id: str,
        context: RequestContext,
        stream: AsyncGenerator[bytes, None],
        progress: ReplyProgress,
        first: bytes,
    ) -> None:
        self.id = run_id
        self.context = context
        self.thread_id: str = progress.thread_id or ""
        self.progress = progress
        self.chunks: list[bytes] = [first]
        self._observed = 1  # chunks read into ``progress`` (the caller read ``first``)
        self.done = False
        self.status = ReplyRun.Status.RUNNING
        self.stop_reason = ""
        self.started = time.monotonic()
        self._stream = stream
        self.stopping = False
        # Done once stopped: what ``_drive`` waits for beside the puller.
        self._stopped: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Readers waiting for a chunk, woken (and forgotten) at the next one:
        # bare futures, not an ``asyncio.Event`` made anew for every chunk.
        self._waiters: list[asyncio.Future[None]] = []
        # The first reader (the request): None once it has gone.
        self._primary_at: int | None = 0
        # The puller waiting for the first reader to take the last chunk.
        self._puller_waits: asyncio.Future[None] | None = None
        self._helpers: set[asyncio.Task[None]] = set()
        self.task: asyncio.Task[None] | None = None
        # The task that pulls the stream, and whether it is awaiting inside it.
        self._puller: asyncio.Task[bool] | None = None
        self._in_stream = False

    # --- control ----------------------------------------------------------

    def start(self) -> None:
        local_runs[self.id] = self
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"run {self.id}")

    def stop(self, reason: str) -> None:
        """Stop the reply (keeping what it wrote, marked interrupted)."""
        if self.stopping:
            return
        self.stopping = True
        self.stop_reason = reason
        self._stopped.set_result(None)
        self._primary_moved()  # a puller waiting for the reader goes on
        self._interrupt()

    async def wait(self, within: float | None = None) -> None:
        """Until the run has ended (and saved what it had); never raises."""
        if self.task is not None:
            await asyncio.wait({self.task}, timeout=within)

    def reader_gone(self, *, keep_going: bool) -> None:
        """The first reader (the request) went away without asking to stop."""
        self._primary_at = None
        self._primary_moved()
        if self.done:
            return
        if not keep_going:
            self.stop("disconnect")
            return
        self._spawn(self._check_background_limit())

    # --- reading ----------------------------------------------------------

    async def wait_beyond(self, index: int) -> None:
        """Until there are more than ``index`` chunks, or the run has ended."""
        while len(self.chunks) <= index and not self.done:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter

    async def read(self, start: int = 0, *, primary: bool = False) -> AsyncIterator[bytes]:
        """The chunks from ``start`` on, as they come, until the run ends."""
        index = start
        while True:
            while index < len(self.chunks):
                chunk = self.chunks[index]
                index += 1
                if primary and self._primary_at is not None:
                    self._primary_at = index
                    self._primary_moved()
                yield chunk
            if self.done:
                return
            await self.wait_beyond(index)

    # --- the task -----------------------------------------------------------

    def _publish(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self._wake_readers()

    def _wake_readers(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():  # a reader that left cancelled its own
                waiter.set_result(None)

    def _primary_moved(self) -> None:
        waits = self._puller_waits
        if waits is not None and not waits.done():
            waits.set_result(None)

    def partial(self) -> list[dict[str, Any]]:
        """The assistant messages in progress (``ReplyProgress.partial``).

        The chunks are read into ``progress`` here, when a heartbeat needs
        them, rather than parsed one by one as they are written: a reply
        that ends between heartbeats is never parsed at all."""
        chunks = self.chunks
        for chunk in chunks[self._observed :]:
            self.progress.observe(chunk)
        self._observed = len(chunks)
        return self.progress.partial()

    async def _run(self) -> None:
        try:
            if SyncToAsync.thread_sensitive_context.get(None) is None:
                # Not a request of an ASGI server (Django's test client, a
                # sync caller through async_to_sync): the caller's thread
                # waits for the stream, and its ORM work belongs there (a
                # test's transaction).
                await self._supervised()
                return
            # A request's executor (and a sync middleware's thread, which
            # the view inherits) ends with the request; the run has its own.
            executor = POOL.take()
            try:
                async with ThreadSensitiveContext(executor=executor):
                    await self._supervised()
            finally:
                POOL.give_back(executor)
        finally:
            local_runs.pop(self.id, None)

    async def _supervised(self) -> None:
        self._spawn(self._beat())
        if mirror.enabled():
            self._spawn(mirror.mirror(self), name="mirror")
        limit = float(chatkit_settings.MAX_RUN_SECONDS)
        timer = (
            asyncio.get_running_loop().call_later(limit, self.stop, "timeout")
            if limit > 0
            else None
        )
        status, reason = ReplyRun.Status.DONE, ""
        try:
            if await self._drive():
                status, reason = ReplyRun.Status.STOPPED, self.stop_reason
        except Exception:
            logger.exception("Reply run %s failed", self.id)
            reason = "error"
        finally:
            if timer is not None:
                timer.cancel()
            if status == ReplyRun.Status.STOPPED and not self.context.extra.get(STOPPED_REPLY_KEPT):
                await self._keep_what_was_written()
            self.status = status
            # Recorded before the readers end: a page that lists its threads
            # once the stream ended sees this one answered.
            try:
                await _finish(self.id, status, reason)
            except Exception:
                logger.exception("Could not record the end of reply run %s", self.id)
            self.done = True
            self._wake_readers()
            for helper in list(self._helpers):
                if helper.get_name() != "mirror":
                    helper.cancel()

    async def _drive(self) -> bool:
        """Pull the stream to its end in one task of its own; True if it was
        stopped.

        The puller is the only task that enters the stream, so every chunk
        is pulled in one ``contextvars`` context (the SDK sets context
        variables inside the stream and resets them chunks later). A stop
        cancels it only while it awaits inside the stream (``_interrupt``);
        between chunks it sees the stop itself before pulling again."""
        puller = asyncio.get_running_loop().create_task(
            self._pull_all(), name=f"run {self.id} pull", context=contextvars.copy_context()
        )
        self._puller = puller
        try:
            await asyncio.wait({puller, self._stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not puller.done():
                # The stop came while the SDK awaited something: it keeps
                # the partial reply and the note, then re-raises.
                await asyncio.wait({puller}, timeout=STOPPED_REPLY_WAIT_SECONDS + 5)
        except asyncio.CancelledError:
            # The run itself cancelled (the process is shutting down): stop
            # the reply so the SDK saves what it had.
            if not puller.done():
                puller.cancel()
                await asyncio.wait({puller}, timeout=STOPPED_REPLY_WAIT_SECONDS)
            _retrieve(puller)
            raise
        if not puller.done() or (self.stopping and _failed(puller)):
            return True
        # A stream that ended by itself after a stop (a layer below the SDK
        # turned the cancellation into an error event) with a message left
        # unfinished was stopped all the same.
        return puller.result() or (self.stopping and bool(self.partial()))

    async def _pull_all(self) -> bool:
        """The puller's loop (see ``_drive``)."""
        stream = self._stream
        loop = asyncio.get_running_loop()
        try:
            while True:
                if self.stopping:
                    # A pull is only cancelled once inside the SDK: at the
                    # first await the stream makes.
                    loop.call_soon(self._interrupt)
                self._in_stream = True
                try:
                    chunk = await anext(stream)
                except StopAsyncIteration:
                    return False
                except asyncio.CancelledError:
                    if not self.stopping:
                        raise  # the run's own cancellation (see ``_drive``)
                    current = asyncio.current_task()
                    if current is not None:
                        current.uncancel()
                    return True
                finally:
                    self._in_stream = False
                self._publish(chunk)
                # The run goes no faster than its first reader reads.
                while (
                    self._primary_at is not None
                    and self._primary_at < len(self.chunks)
                    and not self.stopping
                ):
                    self._puller_waits = loop.create_future()
                    await self._puller_waits
        finally:
            with contextlib.suppress(BaseException):
                await stream.aclose()

    async def _keep_what_was_written(self) -> None:
        """Keep the partial reply and the note when the SDK did not.

        The SDK keeps them only when the cancellation reaches it inside its
        stream; a stop that lands elsewhere (a layer of the responder that
        turns the cancellation into an error, or ends quietly) would lose
        what the user saw. What was published is what they saw: that is kept,
        as recovery keeps a dead process's reply.
        """
        try:
            await _keep_stopped(self.context, self.thread_id, self.partial())
        except Exception:
            logger.exception("Could not keep the stopped reply of run %s", self.id)

    def _interrupt(self) -> None:
        """Cancel the puller if it is awaiting inside the stream (else it
        sees the stop before its next pull, and comes back here)."""
        puller = self._puller
        # Once: the SDK keeps the partial reply while the cancellation it
        # got unwinds, still inside the stream.
        if self._in_stream and puller is not None and not puller.done() and not puller.cancelling():
            puller.cancel()

    async def _beat(self) -> None:
        interval = float(chatkit_settings.RUN_HEARTBEAT_SECONDS)
        while True:
            await asyncio.sleep(interval)
            try:
                if await _write_beat(self.id, self.partial()):
                    self.stop("stop")
            except Exception:
                logger.warning("Could not write the heartbeat of reply run %s", self.id)

    async def _check_background_limit(self) -> None:
        try:
            allowed = await _detach(self.id, self.context)
        except Exception:
            logger.exception("Could not count the background runs of %s", self.id)
            allowed = True
        if not allowed:
            self.stop("limit")

    def _spawn(self, coroutine: Coroutine[Any, Any, None], *, name: str = "helper") -> None:
        task = asyncio.ensure_future(coroutine)
        task.set_name(name)
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark a finished pull's outcome as seen (asyncio logs unseen ones)."""
    if task.done() and not task.cancelled():
        task.exception()


def _failed(task: asyncio.Future[Any]) -> bool:
    """Whether a finished task was cancelled or raised (marking it seen)."""
    return task.cancelled() or task.exception() is not None


@db_call
def _write_beat(run_id: str, partial: list[dict]) -> bool:
    return run_services.run_beat(run_id=run_id, partial=partial)


@db_call
def _detach(run_id: str, context: RequestContext) -> bool:
    return run_services.run_detach(run_id=run_id, owner=context.user)


@db_call
def _keep_stopped(context: RequestContext, thread_id: str, partial: list[dict]) -> None:
    note = SDKHiddenContextItem(
        id=generate_id("sdk_hidden_context"),
        thread_id=thread_id,
        created_at=timezone.now(),
        content=CANCELLED_NOTE,
    )
    core_services.stopped_reply_keep(
        owner=context.user,
        conversation_id=thread_id,
        partial=list(partial_items(partial)),
        note=note,
    )


@db_call
def _finish(run_id: str, status: str, reason: str) -> None:
    run_services.run_finish(run_id=run_id, status=status, reason=reason)


def local_run_for(thread_id: str, user_pk: object) -> Run | None:
    """This process's running reply in ``thread_id`` for that user, if any."""
    for run in reversed(list(local_runs.values())):
        if run.thread_id == thread_id and run.context.user.pk == user_pk and not run.done:
            return run
    return None


def stop_local(run_id: str) -> bool:
    run = local_runs.get(run_id)
    if run is None or run.done:
        return False
    run.stop("stop")
    return True
