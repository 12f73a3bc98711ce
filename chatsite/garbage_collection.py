"""
The garbage collector of a serving process, tuned for many turns at once.

CPython's collector runs a young collection every 700 net allocations of
container objects, and every object that is still alive then (a turn's
events, its pydantic models, its ORM rows, the openai client's chunks: all
alive until the turn ends) is moved to an older generation, which is
collected less often but over more objects, up to a full collection of the
whole heap. With sixty turns in flight most of what a turn allocates is
still alive at each young collection, so it is promoted, traversed again and
again, and swells the full collections, which in a worker that has imported
Django, the Agents SDK, the openai client and their pydantic schemas cover
some 300,000 objects and took about a quarter of a second each, a pause for
every open stream (``benchmarks/versus_baseline.py``; README, "Against the
SDK's own server").

So, once the site is loaded (``chatsite/asgi.py``):

- ``gc.freeze()`` moves everything alive then (modules, settings, URLconf,
  schemas) to the permanent generation, which no collection scans again;
  Python's documentation suggests it for servers that start many
  processes;
- the young generation's threshold is raised (``GC_GEN0_THRESHOLD``,
  default 20,000), so that a collection comes when most of a turn's objects
  have been freed by their reference counts already, rather than while they
  are all in use. Measured on 60 clients at once: 0.64x → 0.84x of the SDK's
  own server's turns per second; the sequential turn did not move.

Reference counting still frees nearly everything the moment it is unused;
only reference cycles wait for a collection, and a larger threshold lets a
few more of them wait a little longer.
"""

from __future__ import annotations

import gc

from django.core.exceptions import ImproperlyConfigured


def tune_for_serving(*, gen0_threshold: int, freeze: bool) -> None:
    """Freeze what the loaded site holds and set the young generation's
    threshold (``0``: keep Python's)."""
    if gen0_threshold < 0:
        raise ImproperlyConfigured(
            f"GC_GEN0_THRESHOLD must be 0 (Python's own) or more, not {gen0_threshold}."
        )
    if freeze:
        # Garbage left by the imports is collected first, not kept for good.
        gc.collect()
        gc.freeze()
    if gen0_threshold:
        _, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(gen0_threshold, gen1, gen2)
