"""
The usage list's "Failed" filter reads a partial index of the failed calls
(any purpose), newest first: its page and its count come from the index, not
a scan of every call. A build of one pass over the table (under a second for
500,000 calls).
"""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('chatkit_app', '0009_rollups_at_commit'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='modelusage',
            index=models.Index(condition=models.Q(models.Q(('error', ''), _negated=True), models.Q(('error', 'stopped'), _negated=True)), fields=['-created_at'], name='chatkit_usage_errors'),
        ),
    ]
