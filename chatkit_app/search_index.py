"""
The items' full-text index on SQLite: an FTS5 table of the thread items'
text (``chatkit_message_fts``) and the triggers that keep it, created by
migration 0005 and read by ``search.py``. PostgreSQL needs none of this: its
GIN index is a plain index of migration 0003.
"""

from __future__ import annotations

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

#: The FTS5 table of the items' text (SQLite only).
FTS_TABLE = "chatkit_message_fts"
_MESSAGES = "chatkit_app_message"
_FTS_DDL = [
    # External content: the index holds the words, the text and the id are
    # read from the item's row (by its rowid) when asked for.
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(text, id UNINDEXED, content='{_MESSAGES}', "
    "content_rowid='rowid', tokenize='unicode61 remove_diacritics 0')",
    f"CREATE TRIGGER {FTS_TABLE}_insert AFTER INSERT ON {_MESSAGES} BEGIN "
    f"INSERT INTO {FTS_TABLE} (rowid, text, id) VALUES (new.rowid, new.text, new.id); END",
    f"CREATE TRIGGER {FTS_TABLE}_delete AFTER DELETE ON {_MESSAGES} BEGIN "
    f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, text, id) "
    "VALUES ('delete', old.rowid, old.text, old.id);"
    " END",
    f"CREATE TRIGGER {FTS_TABLE}_update AFTER UPDATE OF text, id ON {_MESSAGES} BEGIN "
    f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, text, id) "
    "VALUES ('delete', old.rowid, old.text, old.id);"
    f" INSERT INTO {FTS_TABLE} (rowid, text, id) VALUES (new.rowid, new.text, new.id); END",
]


def install_search(schema_editor: BaseDatabaseSchemaEditor) -> None:
    """On SQLite with FTS5: the items' full-text table, its triggers, and
    the words of the items already there."""
    conn = schema_editor.connection
    if conn.vendor != "sqlite":
        return
    with conn.cursor() as cursor:
        cursor.execute("SELECT sqlite_compileoption_used('ENABLE_FTS5')")
        if not cursor.fetchone()[0]:
            return  # search.py falls back to icontains
    for statement in _FTS_DDL:
        schema_editor.execute(statement)
    rebuild_search(conn)


def rebuild_search(conn: BaseDatabaseWrapper | None = None) -> bool:
    """Read every item's words again (SQLite; e.g. after a ``VACUUM``,
    which may renumber the rowids the index refers to). False without
    the FTS5 table."""
    conn = conn or connection
    if conn.vendor != "sqlite":
        return False
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE name = %s", [FTS_TABLE])
        if cursor.fetchone() is None:
            return False
        cursor.execute(f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('rebuild')")
    return True


def uninstall_search(schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "sqlite":
        return
    for suffix in ("insert", "delete", "update"):
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {FTS_TABLE}_{suffix}")
    schema_editor.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
