"""
The dashboard's and the search's columns and index.

- ``ModelUsage.assistant`` and ``ModelUsage.first_token_ms``: which
  assistant answered, and when its first words reached the user (the
  dashboard splits by assistant and shows latency percentiles), and an
  index on ``ModelUsage.message_id`` (from feedback to the answer's model).
- On PostgreSQL, a GIN index on ``to_tsvector('simple', text)`` for the
  full-text search of items (``chatkit_app/search.py``, whose
  ``MessageDocument`` is this expression, character for character: the
  planner uses an expression index only for the same expression). It
  replaces the items' trigram index of 0002, which no query uses any more
  and which every insert paid for. Both are built and dropped CONCURRENTLY
  (hence ``atomic = False``), so a table with millions of items stays
  writable meanwhile. SQLite searches without an index: a no-op there.
"""

from django.db import migrations, models

FTS_INDEX = "chatkit_message_text_fts"
TRIGRAM_INDEX = "chatkit_message_text_trgm"


def create_search_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{FTS_INDEX}" ON "chatkit_app_message" '
        "USING gin (to_tsvector('simple'::regconfig, \"text\"))"
    )
    schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{TRIGRAM_INDEX}"')


def drop_search_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{TRIGRAM_INDEX}" ON "chatkit_app_message" '
        'USING gin (UPPER("text") gin_trgm_ops)'
    )
    schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{FTS_INDEX}"')


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("chatkit_app", "0003_usage_limits")]

    operations = [
        migrations.AddField(
            model_name="modelusage",
            name="assistant",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="modelusage",
            name="first_token_ms",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="modelusage",
            index=models.Index(fields=["message_id"], name="chatkit_usage_message"),
        ),
        migrations.RunPython(create_search_index, drop_search_index, elidable=False),
    ]
