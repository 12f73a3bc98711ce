"""
The rollup triggers of the hot rows (a day's messages and conversations, a
model's calls and latency buckets) fire at the commit instead of at each
write (``chatkit_app/rollups.py``, ``_TRIGGERS``): a row they update is then
locked only for the commit, not while the server works between a write and
its commit, which queued concurrent turns behind one another. Recreates the
functions and triggers, in the time zone the rollups were built for, and
rebuilds the rollups from the rows (as ``manage.py chatkit_rollup
--rebuild`` does). PostgreSQL only; nothing on SQLite.
"""

from django.db import migrations


def triggers_at_commit(apps, schema_editor):
    from chatkit_app.rollups import install, rollup_time_zone

    if schema_editor.connection.vendor != "postgresql":
        return
    zone = rollup_time_zone(schema_editor.connection.alias)
    if zone is None:
        return  # the triggers were dropped on purpose: leave them so
    install(schema_editor, zone=zone)


class Migration(migrations.Migration):
    dependencies = [("chatkit_app", "0008_runs")]

    # Going back keeps these triggers: they count what the earlier ones did.
    operations = [migrations.RunPython(triggers_at_commit, migrations.RunPython.noop)]
