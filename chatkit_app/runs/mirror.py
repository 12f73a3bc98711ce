"""
Runs seen from other server processes, through Redis (``REDIS_URL``).

A run's SSE chunks go to Redis only when a reader in another process asks
for them: most replies are read by the request that started them alone,
and mirroring each one chunk by chunk cost every turn Redis round trips
(and two workers less throughput than one). A reader (``read``) publishes
the run's id on ``FOLLOW_CHANNEL``; the process that owns the run then
appends its chunks, from the first, to a Redis stream of the run's own
(``chatkit:run:<id>``), and the rest as they come. The stream gives the
reader what was written so far and then the rest live from one cursor,
with no gap between the two (pub/sub alone would lose what was sent before
the reader subscribed). The last entry says the run ended; the key expires
a few minutes later. A run that ended stays askable for
``ENDED_KEEP_SECONDS`` (its chunks in memory), for a reader that found it
running in the database just before. A stop asked of a run in another
process is published on one channel every process listens to.

Without ``REDIS_URL`` all of this is off: runs are seen by their own
process only (one server process, the default for ``runserver``).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from .run import Run

logger = logging.getLogger(__name__)

STOP_CHANNEL = "chatkit:runs:stop"
FOLLOW_CHANNEL = "chatkit:runs:follow"
#: How long an ended run's stream stays readable (a reader that was slow).
ENDED_TTL_SECONDS = 300
#: How long an ended run that nobody asked for stays askable (in memory).
ENDED_KEEP_SECONDS = 30
#: How long a reader waits for a new entry before it checks the run is alive
#: (and, while nothing came, asks for the run again).
READ_BLOCK_MS = 1000
#: At most this many chunks per Redis entry (a reader catching up reads a
#: backlog in few entries; a live run appends what came since the last one).
ENTRY_CHUNKS = 64

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Redis] = weakref.WeakKeyDictionary()


def enabled() -> bool:
    return bool(getattr(settings, "REDIS_URL", ""))


def client() -> Redis:
    """This event loop's Redis client (a client's connections belong to one loop)."""
    from redis.asyncio import Redis

    loop = asyncio.get_running_loop()
    found = _clients.get(loop)
    if found is None:
        found = _clients[loop] = Redis.from_url(settings.REDIS_URL)
    return found


def stream_key(run_id: str) -> str:
    return f"chatkit:run:{run_id}"


class _Askable:
    """A run of this process that a reader elsewhere may ask for."""

    def __init__(self, run: Run) -> None:
        self.run_id = run.id
        self.run: Run | None = run
        self.chunks: list[bytes] = run.chunks
        self.status = ""
        self.loop = asyncio.get_running_loop()
        self.wanted = asyncio.Event()
        self.sender: asyncio.Task[None] | None = None

    def ended(self) -> None:
        """The run is over: keep only what a late reader needs."""
        run, self.run = self.run, None
        if run is not None:
            self.chunks, self.status = run.chunks, run.status

    def ask(self) -> None:
        """A reader asked (on ``self.loop``): mirror once, from the start."""
        self.wanted.set()
        if self.run is None and self.sender is None:
            self.sender = self.loop.create_task(_send(self), name="mirror")


#: This process's runs that can be asked for, by id.
_askable: dict[str, _Askable] = {}


async def mirror(run: Run) -> None:
    """Keep ``run`` askable while it runs (and ``ENDED_KEEP_SECONDS``
    after); once a reader in another process asks, append its chunks to
    its Redis stream until it ends. Never raises: a Redis outage costs
    other processes the view of this run, not the run itself."""
    entry = _Askable(run)
    _askable[run.id] = entry
    try:
        if run.task is not None and not run.done:
            wanted = asyncio.ensure_future(entry.wanted.wait())
            try:
                await asyncio.wait({wanted, run.task}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                wanted.cancel()
        if entry.wanted.is_set() and entry.sender is None:
            entry.sender = asyncio.current_task()
            await _send(entry)
    finally:
        entry.ended()
        entry.loop.call_later(ENDED_KEEP_SECONDS, _forget, run.id, entry)


def _forget(run_id: str, entry: _Askable) -> None:
    if _askable.get(run_id) is entry:
        del _askable[run_id]


async def _send(entry: _Askable) -> None:
    """Append the run's chunks from the first to its stream, then its end."""
    key = stream_key(entry.run_id)
    sent = 0
    try:
        redis = client()
        while True:
            run = entry.run
            if run is not None:
                await run.wait_beyond(sent)
            chunks = entry.chunks[sent : sent + ENTRY_CHUNKS]
            if chunks:
                await redis.xadd(key, {"d": b"".join(chunks)})
                sent += len(chunks)
                continue
            if run is None or run.done:
                status = run.status if run is not None else entry.status
                await redis.xadd(key, {"end": status})
                await redis.expire(key, ENDED_TTL_SECONDS)
                return
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("Could not mirror reply run %s to Redis", entry.run_id)


def _asked(run_id: str) -> None:
    """A reader somewhere asked for ``run_id`` (called on any loop)."""
    entry = _askable.get(run_id)
    if entry is not None:
        entry.loop.call_soon_threadsafe(entry.ask)


async def read(run_id: str, *, alive: Callable[[], Awaitable[bool]]) -> AsyncIterator[bytes]:
    """The chunks of a run in another process, from the first, until it
    ends (or, should its process die, until ``alive`` says it is gone)."""
    redis = client()
    key = stream_key(run_id)
    await redis.publish(FOLLOW_CHANNEL, run_id)
    cursor = "0"
    last_chance = False
    while True:
        answer = await redis.xread({key: cursor}, block=READ_BLOCK_MS, count=100)
        if not answer:
            if cursor == "0":
                # Nothing yet: the owner may not have been listening when
                # we asked (a process that had just started). Ask again.
                await redis.publish(FOLLOW_CHANNEL, run_id)
            if await alive():
                continue
            if last_chance:
                return
            # It ended meanwhile: what its process mirrors on our asking
            # is on its way (or, the process gone, never comes).
            last_chance = True
            continue
        for entry_id, fields in answer[0][1]:
            cursor = entry_id
            if b"end" in fields:
                return
            yield fields[b"d"]


async def publish_stop(run_id: str) -> None:
    await client().publish(STOP_CHANNEL, run_id)


async def listen_for_stops(on_stop: Callable[[str], None]) -> None:
    """Call ``on_stop(run_id)`` for each stop published by any process, and
    mirror the runs of this process that readers elsewhere ask for;
    reconnects after a Redis outage."""
    while True:
        try:
            pubsub = client().pubsub()
            await pubsub.subscribe(STOP_CHANNEL, FOLLOW_CHANNEL)
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                run_id = message["data"].decode()
                if message["channel"] == FOLLOW_CHANNEL.encode():
                    _asked(run_id)
                else:
                    on_stop(run_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("Lost the Redis channel for stopping replies; reconnecting.")
            await asyncio.sleep(1)
