"""
The CPU of one title call: ours (``responders.titles.generate_title``, plain
JSON through the provider's client) against the openai SDK's typed
``create()`` it replaced, in the same run, on both wire formats.

A new thread's title is asked for beside its first reply, on the reply's
event loop: each millisecond of it is a millisecond the reply's stream
waits for the process. The model is the benchmarks' fake provider (a real
local HTTP server in a process of its own), so the figure is this process's
CPU per call, not the model's time. Needs no database.

    .venv/bin/python benchmarks/title_call.py            # --calls 300 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
sys.path.insert(0, str(BASE_DIR / "benchmarks"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
os.environ.setdefault("DEBUG", "true")
os.environ["DJANGO_READ_DOT_ENV"] = "0"

import django  # noqa: E402

django.setup()

from versus_baseline import fake_provider  # noqa: E402

from chatkit_app.responders.model_clients import openai_client  # noqa: E402
from chatkit_app.responders.providers import Provider, current_provider  # noqa: E402
from chatkit_app.responders.titles import (  # noqa: E402
    TITLE_INSTRUCTIONS,
    generate_title,
)

QUESTION = "How do I plan a week of meals for a family of four?"


async def typed_create(provider: Provider, text: str) -> str:
    """The title call as the openai SDK's typed ``create()`` makes it."""
    client = openai_client(provider)
    if provider.wire == "responses":
        response = await client.responses.create(
            model=provider.title_model,
            instructions=TITLE_INSTRUCTIONS,
            input=text,
            max_output_tokens=30,
        )
        return response.output_text
    completion = await client.chat.completions.create(
        model=provider.title_model,
        messages=[
            {"role": "system", "content": TITLE_INSTRUCTIONS},
            {"role": "user", "content": text},
        ],
        max_tokens=30,
    )
    return completion.choices[0].message.content or ""


async def ours(provider: Provider, text: str) -> str:
    title = await generate_title(provider, text)
    if title.error:
        raise RuntimeError(f"the title call failed: {title.error}")
    return title.title


async def cpu_per_call(
    call: Callable[[Provider, str], Awaitable[str]], provider: Provider, calls: int
) -> float:
    for _ in range(20):  # connections open, caches warm
        await call(provider, QUESTION)
    started = time.process_time()
    for _ in range(calls):
        await call(provider, QUESTION)
    return (time.process_time() - started) / calls * 1000


async def measure(provider: Provider, calls: int, rounds: int) -> tuple[float, float]:
    typed: list[float] = []
    plain: list[float] = []
    for _ in range(rounds):  # interleaved: the machine's drift hits both
        typed.append(await cpu_per_call(typed_create, provider, calls))
        plain.append(await cpu_per_call(ours, provider, calls))
    return statistics.median(typed), statistics.median(plain)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M")
    print(f"{started}, load {os.getloadavg()[0]:.1f}; CPU ms per title call")
    with fake_provider() as (url, key, _):
        for wire in ("chat", "responses"):
            provider = replace(
                current_provider(), wire=wire, base_url=url, api_key=key, max_retries=0
            )
            typed, plain = asyncio.run(measure(provider, args.calls, args.rounds))
            print(
                f"  {wire:<10} typed create() {typed:5.2f}   ours {plain:5.2f}   "
                f"ratio {plain / typed:.2f}x"
            )


if __name__ == "__main__":
    main()
