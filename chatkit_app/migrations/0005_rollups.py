"""
The dashboard's rollups (``chatkit_app/rollups.py``): four small tables of
per-day figures and, on PostgreSQL, the triggers that keep them as rows are
written, then every rollup built from the rows already there (a data
migration: a few seconds for a million messages, during which writes to
the counted tables wait). ``manage.py chatkit_rollup --rebuild`` does the
same again, e.g. after ``TIME_ZONE`` changed.

On SQLite (when built with FTS5, as Python's usually is): the items'
full-text table ``chatkit_message_fts`` with the triggers that keep it,
filled from the items already there (``chatkit_app/search.py`` uses it).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def install_rollups(apps, schema_editor):
    from chatkit_app.rollups import install, install_search

    install(schema_editor)
    install_search(schema_editor)


def uninstall_rollups(apps, schema_editor):
    from chatkit_app.rollups import uninstall, uninstall_search

    uninstall(schema_editor)
    uninstall_search(schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("chatkit_app", "0004_dashboard_and_search"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="LatencyRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("model", models.CharField(max_length=100)),
                ("assistant", models.CharField(max_length=64)),
                ("metric", models.CharField(max_length=16)),
                ("bucket", models.IntegerField()),
                ("n", models.IntegerField(default=0)),
            ],
            options={
                "db_table": "chatkit_rollup_latency",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("day", "model", "assistant", "metric", "bucket"),
                        name="chatkit_rollup_latency_key",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="RollupDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("kind", models.CharField(max_length=16)),
                ("n", models.BigIntegerField(default=0)),
            ],
            options={
                "db_table": "chatkit_rollup_day",
                "constraints": [
                    models.UniqueConstraint(fields=("day", "kind"), name="chatkit_rollup_day_key")
                ],
            },
        ),
        migrations.CreateModel(
            name="UsageRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("model", models.CharField(max_length=100)),
                ("assistant", models.CharField(max_length=64)),
                ("calls", models.BigIntegerField(default=0)),
                ("errors", models.BigIntegerField(default=0)),
                ("input_tokens", models.BigIntegerField(default=0)),
                ("output_tokens", models.BigIntegerField(default=0)),
                ("positive", models.BigIntegerField(default=0)),
                ("negative", models.BigIntegerField(default=0)),
            ],
            options={
                "db_table": "chatkit_rollup_usage",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("day", "model", "assistant"), name="chatkit_rollup_usage_key"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="ActiveUserDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                (
                    "user",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING, db_constraint=False,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "db_table": "chatkit_rollup_active_user",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("day", "user"), name="chatkit_rollup_active_user_key"
                    )
                ],
            },
        ),
        migrations.RunPython(install_rollups, uninstall_rollups, elidable=False),
    ]
