"""
How fast the admin is with a million messages (README, "Admin at scale").

Seeds a scratch PostgreSQL database in bulk (``INSERT … SELECT … FROM
generate_series``: seconds, not the ORM row by row), then loads the admin
pages that matter through Django's test ``Client`` as a superuser and prints
the median time and the number of queries of each: the lists, their
searches (full-text: a common word, a phrase, a prefix), the dashboard
for each period (read from its rollups, rebuilt once after seeding) and the
review queue with each of its filters; plus what a full ``COUNT(*)`` would
have cost. Not part of the test suite.

    createdb -h 127.0.0.1 -p 55432 -U postgres chatsite_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:55432/chatsite_bench \\
        .venv/bin/python benchmarks/admin_scale.py --messages 1000000

It refuses a database whose name does not contain "bench" or "scratch"
(it inserts a million rows), unless given ``--force``. Seeding happens
once: a later run with the same or fewer messages reuses the rows.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote_plus, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-" + "0123456789" * 4)
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("DJANGO_READ_DOT_ENV", "0")
# No collectstatic for a benchmark: plain static URLs.
os.environ.setdefault(
    "STATICFILES_BACKEND", "django.contrib.staticfiles.storage.StaticFilesStorage"
)

import django

django.setup()

from django.contrib.admin.utils import quote  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from chatkit_app.admin.dashboard.periods import day_start  # noqa: E402
from chatkit_app.models import Conversation, Message  # noqa: E402
from chatkit_app.rollups import install  # noqa: E402

WORDS = ["taxes", "recipes", "travel", "python", "gardening", "invoice", "weather", "music"]
RARE_PHRASE = "quarterly zebra report"


def seed(messages: int, per_conversation: int, users: int, days: int) -> None:
    conversations = messages // per_conversation
    have = Message.objects.count()
    if have >= messages:
        print(f"reusing {have:,} messages already seeded")
        return
    if have:
        sys.exit(f"{have:,} messages already present but {messages:,} wanted: use a fresh database")
    print(
        f"seeding {users:,} users, {conversations:,} conversations, {messages:,} messages "
        f"over {days} days …"
    )
    # Seconds between two conversations' starts: the newest now, the oldest
    # ``days`` ago.
    spacing = days * 86400 / conversations
    started = time.perf_counter()
    words = "ARRAY[" + ",".join(f"'{w}'" for w in WORDS) + "]"
    with connection.cursor() as cursor:
        # Inserting into a GIN index row by row is its slowest path: build it
        # once afterwards instead, as a restore would. Likewise the
        # dashboard's rollups: no trigger fires while seeding (as on a
        # replica, ``session_replication_role``), one rebuild at the end.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute('DROP INDEX IF EXISTS "chatkit_message_text_fts"')
        cursor.execute(
            """
            INSERT INTO auth_user (password, is_superuser, username, first_name, last_name,
                                   email, is_staff, is_active, date_joined)
            SELECT '!', false, 'user' || g, '', '', '', false, true, now()
            FROM generate_series(1, %s) g
            """,
            [users],
        )
        cursor.execute("SELECT min(id) FROM auth_user WHERE username LIKE 'user%%'")
        first_user = cursor.fetchone()[0]
        cursor.execute(
            f"""
            INSERT INTO chatkit_app_conversation (id, owner_id, title, status, status_reason,
                metadata, item_sequence, created_at, updated_at)
            SELECT 'thr_bench' || lpad(g::text, 8, '0'), %s + (g %% %s),
                   'Conversation ' || g || ' about ' || ({words})[1 + g %% {len(WORDS)}],
                   CASE WHEN g %% 50 = 0 THEN 'closed' WHEN g %% 97 = 0 THEN 'locked'
                        ELSE 'active' END,
                   '', '{{}}', %s,
                   now() - make_interval(secs => g * %s),
                   now() - make_interval(secs => g * %s) + interval '5 minutes'
            FROM generate_series(1, %s) g
            """,
            [first_user, users, per_conversation, spacing, spacing, conversations],
        )
        step = 20_000
        for low in range(1, conversations + 1, step):
            high = min(low + step - 1, conversations)
            cursor.execute(
                f"""
                INSERT INTO chatkit_app_message (id, conversation_id, sequence, type, role, text,
                    data, interrupted, created_at, updated_at)
                SELECT m.id, m.thread, s, m.kind, m.role, m.body,
                    CASE WHEN m.kind = 'user_message' THEN jsonb_build_object(
                        'id', m.id, 'thread_id', m.thread, 'type', m.kind, 'created_at', m.at,
                        'content', jsonb_build_array(
                            jsonb_build_object('type', 'input_text', 'text', m.body)),
                        'attachments', '[]'::jsonb, 'quoted_text', null,
                        'inference_options', '{{}}'::jsonb)
                    ELSE jsonb_build_object(
                        'id', m.id, 'thread_id', m.thread, 'type', m.kind, 'created_at', m.at,
                        'content', jsonb_build_array(jsonb_build_object(
                            'type', 'output_text', 'text', m.body, 'annotations', '[]'::jsonb)))
                    END,
                    false, m.at, m.at
                FROM generate_series(%s, %s) c, generate_series(1, %s) s,
                LATERAL (SELECT
                    'msg_bench' || lpad(c::text, 8, '0') || '_' || s AS id,
                    'thr_bench' || lpad(c::text, 8, '0') AS thread,
                    CASE WHEN s %% 2 = 1 THEN 'user_message' ELSE 'assistant_message' END AS kind,
                    CASE WHEN s %% 2 = 1 THEN 'user' ELSE 'assistant' END AS role,
                    'About ' || ({words})[1 + (c * 7 + s) %% {len(WORDS)}] || ': '
                        || md5(c::text || '-' || s::text) || ' '
                        || md5(s::text || '+' || c::text) AS body,
                    now() - make_interval(secs => c * %s) + make_interval(secs => s) AS at) m
                """,
                [low, high, per_conversation, spacing],
            )
            print(f"  {high * per_conversation:,} messages", flush=True)
        cursor.execute(
            "UPDATE chatkit_app_message SET text = text || ' ' || %s "
            "WHERE id IN ('msg_bench00000777_3', 'msg_bench00012345_4', 'msg_bench00031337_2')",
            [RARE_PHRASE],
        )
        # A usage row per answer, as the responder leaves them: two models,
        # two assistants, one call in 50 failed, latencies spread over 0.3-4.3 s.
        cursor.execute(
            """
            INSERT INTO chatkit_app_modelusage (conversation_id, user_id, message_id, provider,
                model, assistant, purpose, input_tokens, output_tokens, latency_ms,
                first_token_ms, error, created_at)
            SELECT m.conversation_id, c.owner_id, m.id, 'openai',
                   CASE WHEN m.sequence % 3 = 0 THEN 'gpt-4.1' ELSE 'gpt-4.1-mini' END,
                   CASE WHEN hashtext(c.id) % 4 = 0 THEN 'tasks'
                        ELSE 'assistant' END,
                   'response', 400 + m.sequence * 50, 150 + m.sequence * 5,
                   300 + (hashtext(m.id) & 4095), 100 + (hashtext(m.id) & 511),
                   CASE WHEN hashtext(m.id) % 50 = 0 THEN 'rate_limit' ELSE '' END,
                   m.created_at
            FROM chatkit_app_message m JOIN chatkit_app_conversation c ON c.id = m.conversation_id
            WHERE m.role = 'assistant'
            """
        )
        # Feedback on one answer in 20, one in three of those a thumbs down.
        cursor.execute(
            """
            INSERT INTO chatkit_app_feedback (message_id, conversation_id, user_id, kind,
                created_at)
            SELECT m.id, m.conversation_id, c.owner_id,
                   CASE WHEN hashtext(m.id) % 3 = 0 THEN 'negative' ELSE 'positive' END,
                   m.created_at + interval '1 minute'
            FROM chatkit_app_message m JOIN chatkit_app_conversation c ON c.id = m.conversation_id
            WHERE m.role = 'assistant' AND hashtext(m.id) % 20 = 0
            """
        )
        print("  building the full-text index …", flush=True)
        cursor.execute(
            'CREATE INDEX "chatkit_message_text_fts" ON chatkit_app_message '
            "USING gin (to_tsvector('simple'::regconfig, \"text\"))"
        )
        cursor.execute("SET session_replication_role = DEFAULT")
    rebuilding = time.perf_counter()
    install()
    print(f"  rollups rebuilt in {time.perf_counter() - rebuilding:.0f} s (as chatkit_rollup)")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"seeded in {time.perf_counter() - started:.0f} s")


def seed_review() -> None:
    """What the review queue lists beyond the seeded feedback and failed
    calls: one answer in 200 interrupted, one conversation in 500 flagged
    (once: a reused database keeps them)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM chatkit_app_conversation WHERE flagged_at IS NOT NULL LIMIT 1"
        )
        if cursor.fetchone():
            return
        cursor.execute(
            "UPDATE chatkit_app_message SET interrupted = true "
            "WHERE role = 'assistant' AND hashtext(id) % 200 = 1"
        )
        cursor.execute(
            "UPDATE chatkit_app_conversation SET flagged_at = updated_at, flag_reason = 'check' "
            "WHERE hashtext(id) % 500 = 0"
        )
        cursor.execute("ANALYZE")


def day_range(day: date) -> dict[str, str]:
    """The admin filter of one day, as the dashboard's links write it."""
    return {
        "created_at__gte": str(day_start(day)),
        "created_at__lt": str(day_start(day + timedelta(days=1))),
    }


def measure(client: Client, url: str, runs: int) -> tuple[float, int, int]:
    client.get(url)  # warm caches (content types, the plan cache, shared buffers)
    times = []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), len(captured), response.status_code


def timed_sql(sql: str, runs: int) -> float:
    times = []
    with connection.cursor() as cursor:
        for _ in range(runs):
            started = time.perf_counter()
            cursor.execute(sql)
            cursor.fetchall()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--per-conversation", type=int, default=20)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument(
        "--days", type=int, default=35, help="Days the conversations are spread over."
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--force", action="store_true", help="Seed any database.")
    parser.add_argument(
        "--only", default="", help="Measure only the pages whose label contains this text."
    )
    options = parser.parse_args()

    if connection.vendor != "postgresql":
        sys.exit("Run against PostgreSQL: set DATABASE_URL=postgres://…/chatsite_bench")
    name = connection.settings_dict["NAME"]
    if not options.force and "bench" not in name and "scratch" not in name:
        sys.exit(f"Database {name!r} does not look like a scratch one; pass --force to seed it.")

    call_command("migrate", verbosity=0)
    seed(options.messages, options.per_conversation, options.users, options.days)
    seed_review()
    admin_user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(admin_user)

    busiest = Conversation.objects.order_by("-updated_at").values_list("pk", flat=True).first()
    owner = get_user_model().objects.get(username="user7").get_username()
    conversation_url = "/admin/chatkit_app/conversation/"
    pages = [
        ("conversations, unfiltered", conversation_url),
        ("conversations, status=closed", conversation_url + "?status__exact=closed"),
        ("conversations, one owner", conversation_url + f"?owner={owner}"),
        ("conversations, last 7 days", conversation_url + "?updated_at__gte=2000-01-01"),
        ("conversations, page 100", conversation_url + "?p=100"),
        ("conversations, search title", conversation_url + "?q=Conversation+4242+"),
        (
            f"conversations, search text {RARE_PHRASE!r}",
            conversation_url + "?q=" + quote_plus(RARE_PHRASE),
        ),
        ("conversations, search common word 'python'", conversation_url + "?q=python"),
        ("conversation page (transcript)", f"{conversation_url}{quote(busiest)}/change/"),
        ("conversation delete confirmation", f"{conversation_url}{quote(busiest)}/delete/"),
        ("items, unfiltered", "/admin/chatkit_app/message/"),
        ("items, type=user_message", "/admin/chatkit_app/message/?type=user_message"),
        ("items, search text", "/admin/chatkit_app/message/?q=" + quote_plus(RARE_PHRASE)),
        ("items, search common word 'python'", "/admin/chatkit_app/message/?q=python"),
        ("items, search prefix 'pyth*'", "/admin/chatkit_app/message/?q=pyth*"),
        ("items, search rare prefix 'zebr*'", "/admin/chatkit_app/message/?q=zebr*"),
        ("items, search 'python', page 10", "/admin/chatkit_app/message/?q=python&p=10"),
        (
            "items, search 'python', sorted by conversation",
            "/admin/chatkit_app/message/?q=python&o=2",
        ),
        (
            "items, search 'python' on a day (dashboard link)",
            "/admin/chatkit_app/message/?q=python&"
            + urlencode(day_range(timezone.localdate() - timedelta(days=20))),
        ),
        (
            "items, search two words 'python zebra'",
            "/admin/chatkit_app/message/?q=python+zebra",
        ),
        (
            "items, search phrase '\"quarterly zebra\"'",
            "/admin/chatkit_app/message/?q=" + quote_plus('"quarterly zebra"'),
        ),
        ("conversations, search prefix 'pyth*'", conversation_url + "?q=pyth*"),
        ("conversations, search 'python', page 10", conversation_url + "?q=python&p=10"),
        (
            "conversations, search phrase '\"quarterly zebra\"'",
            conversation_url + "?q=" + quote_plus('"quarterly zebra"'),
        ),
        ("usage, unfiltered", "/admin/chatkit_app/modelusage/"),
        ("usage, one model", "/admin/chatkit_app/modelusage/?model__exact=gpt-4.1"),
        ("usage, failed", "/admin/chatkit_app/modelusage/?failed=yes"),
        ("usage, one user", f"/admin/chatkit_app/modelusage/?user={owner}"),
        ("dashboard, today", "/admin/dashboard/?period=today"),
        ("dashboard, 7 days", "/admin/dashboard/?period=7d"),
        ("dashboard, 30 days", "/admin/dashboard/?period=30d"),
        (
            "dashboard, a day's thumbs-down feedback (drill-down)",
            "/admin/chatkit_app/feedback/?kind__exact=negative&"
            + urlencode(day_range(timezone.localdate() - timedelta(days=1))),
        ),
        (
            "dashboard, a day's failed calls (drill-down)",
            "/admin/chatkit_app/modelusage/?failed=yes&"
            + urlencode(day_range(timezone.localdate() - timedelta(days=1))),
        ),
        ("review queue", "/admin/review/"),
        ("review queue, thumbs down", "/admin/review/?source=negative"),
        ("review queue, failed", "/admin/review/?source=failed"),
        ("review queue, interrupted", "/admin/review/?source=interrupted"),
        ("review queue, flagged", "/admin/review/?source=flagged"),
        ("review queue, model gpt-4.1", "/admin/review/?model=gpt-4.1"),
        ("review queue, assistant tasks", "/admin/review/?assistant=tasks"),
        ("review queue, not annotated", "/admin/review/?label=-"),
        (
            "review queue, last 7 days",
            "/admin/review/?" + urlencode({"start": str(timezone.localdate() - timedelta(days=6))}),
        ),
        ("review queue, search 'python'", "/admin/review/?q=python"),
        (
            f"review queue, search {RARE_PHRASE!r}",
            "/admin/review/?q=" + quote_plus(RARE_PHRASE),
        ),
    ]
    # The queue's second page, through the link the first one shows.
    older = re.search(
        r'href="(\?[^"]*after=[^"]+)" class="button ck-review-older"',
        client.get("/admin/review/").content.decode(),
    )
    if older:
        pages.append(("review queue, page 2", "/admin/review/" + html.unescape(older[1])))
    with transaction.atomic():
        totals = (Conversation.objects.count(), Message.objects.count())
    print(f"\n{totals[0]:,} conversations, {totals[1]:,} messages; median of {options.runs} runs")
    print(f"{'page':50} {'ms':>8} {'queries':>8}")
    for label, url in pages:
        if options.only not in label:
            continue
        median, queries, status = measure(client, url, options.runs)
        flag = "" if status == 200 else f"  (HTTP {status})"
        print(f"{label:50} {median:8.1f} {queries:8}{flag}")

    if options.only:
        return
    print("\nthe 30-day dashboard's queries, slowest first (ms):")
    with CaptureQueriesContext(connection) as captured:
        client.get("/admin/dashboard/?period=30d")
    for query in sorted(captured, key=lambda q: -float(q["time"]))[:8]:
        print(f"  {float(query['time']) * 1000:8.1f}  {query['sql'][:110]}")

    print("\nwhat the estimate saves:")
    for table in ("chatkit_app_message", "chatkit_app_conversation"):
        exact = timed_sql(f"SELECT COUNT(*) FROM {table}", options.runs)
        estimate = timed_sql(
            f"SELECT reltuples::bigint FROM pg_class WHERE oid = '{table}'::regclass", options.runs
        )
        print(f"  {table:28} COUNT(*) {exact:8.1f} ms   estimate {estimate:6.2f} ms")


if __name__ == "__main__":
    main()
