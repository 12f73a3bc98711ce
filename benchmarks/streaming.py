"""
How many answers one daphne process streams at once, and what it costs.

Starts the fake model provider (a real local HTTP server speaking OpenAI's
Responses API, from the test suite) and one daphne process on a scratch
database, then sends waves of concurrent ``threads.create`` requests over
HTTP. For each wave it prints the time to the first byte and to the end of
the stream (median and 95th percentile), the answers per second, errors, and
the daphne process's resident memory before and after. Not part of the tests.

    .venv/bin/python benchmarks/streaming.py                      # SQLite scratch file
    DATABASE_URL=postgres://postgres@127.0.0.1:55432/chatsite_bench \\
        .venv/bin/python benchmarks/streaming.py --concurrency 10 50 100

Each answer is ``--words`` words streamed ``--word-delay`` seconds apart, as
a slow model would; the numbers say how the site holds up, not how fast a
model is. The database must be a scratch one: its name must contain "bench"
or "scratch" (tables are created and rows added), unless ``--force``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

import httpx  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--words", type=int, default=40)
    parser.add_argument("--word-delay", type=float, default=0.02)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()

    scratch = tempfile.mkdtemp(prefix="chatsite-bench-")
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{scratch}/bench.sqlite3"
    name = database_url.rsplit("/", 1)[-1]
    if not args.force and "bench" not in name and "scratch" not in name:
        sys.exit(f"Refusing to write to {name!r}: use a scratch database or --force.")

    from chatkit_app.tests.fake_provider import FakeProvider

    fake = FakeProvider()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_READ_DOT_ENV": "0",
        "DEBUG": "false",
        "SECRET_KEY": "benchmark-only-secret-key-" + "0123456789" * 4,
        "SECURE_SSL_REDIRECT": "false",
        "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "CHATKIT_PROVIDER": "openai",
        "CHATKIT_API_KEY": fake.api_key,
        "CHATKIT_BASE_URL": fake.base_url,
        "CHATKIT_MAX_RETRIES": "0",
        "CHATKIT_GENERATE_TITLES": "false",
        "LOG_LEVEL": "WARNING",
    }
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
    token = subprocess.run(
        [
            *manage,
            "shell",
            "-c",
            "from django.contrib.auth.models import User;"
            "from chatkit_app.tokens import token_create;"
            "u, _ = User.objects.get_or_create(username='bench');"
            "print(token_create(user=u)[1])",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]

    port = 8799
    daphne = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-p", str(port), "chatsite.asgi:application"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/chatkit"
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        answer = " ".join(["word"] * args.words)
        print(
            f"database {database_url.split('://')[0]}, {args.words} words per answer, "
            f"{args.word_delay * 1000:.0f} ms apart (a model alone needs "
            f"{args.words * args.word_delay:.2f} s)"
        )
        print(
            f"{'streams':>8} {'first byte p50/p95 ms':>22} {'done p50/p95 s':>16} "
            f"{'answers/s':>10} {'errors':>7} {'RSS MB before→after':>20}"
        )

        def ask(n: int) -> tuple[float, float, bool]:
            body = {
                "type": "threads.create",
                "params": {
                    "input": {
                        "content": [{"type": "input_text", "text": f"question {n}"}],
                        "attachments": [],
                        "inference_options": {},
                    }
                },
            }
            started = time.monotonic()
            first = None
            text = b""
            with httpx.stream(
                "POST",
                url,
                content=json.dumps(body),
                headers={"Authorization": f"Bearer {token}"},
                timeout=120,
            ) as response:
                for chunk in response.iter_bytes():
                    first = first or time.monotonic()
                    text += chunk
            done = time.monotonic()
            ok = response.status_code == 200 and b'"type":"error"' not in text
            return ((first or done) - started) * 1000, done - started, ok

        # The first answer pays for imports and client set-up: not measured.
        fake.reply(answer, chunk_delay=args.word_delay)
        ask(-1)
        for concurrency in args.concurrency:
            for _ in range(concurrency):
                fake.reply(answer, chunk_delay=args.word_delay)
            before = rss_mb(daphne.pid)
            wave_started = time.monotonic()
            with ThreadPoolExecutor(concurrency) as pool:
                results = list(pool.map(ask, range(concurrency)))
            wall = time.monotonic() - wave_started
            firsts = [r[0] for r in results]
            dones = [r[1] for r in results]
            errors = sum(1 for r in results if not r[2])
            print(
                f"{concurrency:>8} "
                f"{statistics.median(firsts):>10.0f}/{percentile(firsts, 0.95):<11.0f}"
                f"{statistics.median(dones):>8.2f}/{percentile(dones, 0.95):<7.2f}"
                f"{concurrency / wall:>10.1f} {errors:>7} "
                f"{before:>10.0f}→{rss_mb(daphne.pid):<9.0f}"
            )
    finally:
        daphne.terminate()
        daphne.wait(timeout=10)
        fake.close()


if __name__ == "__main__":
    main()
