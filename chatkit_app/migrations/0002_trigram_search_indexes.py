"""
Trigram indexes for the admin's text search, on PostgreSQL only.

Django compiles ``icontains`` on PostgreSQL to ``UPPER("col"::text) LIKE
UPPER(%s)``, so the index must be on the expression ``UPPER(col)``: a trigram
index on the bare column is never used by those queries. Built CONCURRENTLY
(hence ``atomic = False``) so that adding it to a table with millions of
messages does not block writes. SQLite has no such index: a no-op there.
"""

from django.db import migrations

INDEXES = {
    "chatkit_message_text_trgm": ("chatkit_app_message", "text"),
    "chatkit_conv_title_trgm": ("chatkit_app_conversation", "title"),
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner
    # may create it without being a superuser.
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, (table, column) in INDEXES.items():
        schema_editor.execute(
            f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" '
            f'ON "{table}" USING gin (UPPER("{column}") gin_trgm_ops)'
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("chatkit_app", "0001_initial")]

    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]
