"""
Runs seen from other server processes, through Redis (``REDIS_URL``).

A run's SSE chunks are appended to a Redis stream of its own
(``chatkit:run:<id>``), which gives a reader in another process what was
written so far and then the rest live from one cursor, with no gap between
the two (pub/sub alone would lose what was sent before the reader
subscribed). The last entry says the run ended; the key expires a few
minutes later. A stop asked of a run in another process is published on
one channel every process listens to.

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
#: How long an ended run's stream stays readable (a reader that was slow).
ENDED_TTL_SECONDS = 300
#: How long a reader waits for a new entry before it checks the run is alive.
READ_BLOCK_MS = 1000

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


async def mirror(run: Run) -> None:
    """Append ``run``'s chunks to its Redis stream until it ends. Never
    raises: a Redis outage costs other processes the view of this run,
    not the run itself."""
    key = stream_key(run.id)
    sent = 0
    try:
        redis = client()
        while True:
            await run.wait_beyond(sent)
            chunks = run.chunks[sent:]
            if chunks:
                await redis.xadd(key, {"d": b"".join(chunks)})
                sent += len(chunks)
                continue
            if run.done:
                await redis.xadd(key, {"end": run.status})
                await redis.expire(key, ENDED_TTL_SECONDS)
                return
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("Could not mirror reply run %s to Redis", run.id)


async def read(run_id: str, *, alive: Callable[[], Awaitable[bool]]) -> AsyncIterator[bytes]:
    """The chunks of a run in another process, from the first, until it
    ends (or, should its process die, until ``alive`` says it is gone)."""
    redis = client()
    key = stream_key(run_id)
    cursor = "0"
    while True:
        answer = await redis.xread({key: cursor}, block=READ_BLOCK_MS, count=100)
        if not answer:
            if not await alive():
                return
            continue
        for entry_id, fields in answer[0][1]:
            cursor = entry_id
            if b"end" in fields:
                return
            yield fields[b"d"]


async def publish_stop(run_id: str) -> None:
    await client().publish(STOP_CHANNEL, run_id)


async def listen_for_stops(on_stop: Callable[[str], None]) -> None:
    """Call ``on_stop(run_id)`` for each stop published by any process;
    reconnects after a Redis outage."""
    while True:
        try:
            pubsub = client().pubsub()
            await pubsub.subscribe(STOP_CHANNEL)
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    on_stop(message["data"].decode())
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("Lost the Redis channel for stopping replies; reconnecting.")
            await asyncio.sleep(1)
