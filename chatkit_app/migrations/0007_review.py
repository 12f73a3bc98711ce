"""
The review queue's data (issue 19): staff flags on a conversation, the
``Annotation`` of an answer, and partial indexes that keep each of the
queue's sources (thumbs down, failed and interrupted answers, flagged
conversations) an index range scan newest first, however large the tables.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('chatkit_app', '0006_handoff'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Annotation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('label', models.CharField(max_length=64)),
                ('note', models.TextField(blank=True, default='')),
                ('corrected_text', models.TextField(blank=True, default='', help_text='The answer it should have been (optional).')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'ordering': ['-updated_at'],
            },
        ),
        migrations.AddField(
            model_name='conversation',
            name='flag_note',
            field=models.TextField(blank=True, db_default='', default='', editable=False),
        ),
        migrations.AddField(
            model_name='conversation',
            name='flag_reason',
            field=models.CharField(blank=True, db_default='', default='', editable=False, max_length=255),
        ),
        migrations.AddField(
            model_name='conversation',
            name='flagged_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='conversation',
            name='flagged_by',
            field=models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddIndex(
            model_name='conversation',
            index=models.Index(condition=models.Q(('flagged_at__isnull', False)), fields=['-flagged_at'], name='chatkit_conv_flagged'),
        ),
        migrations.AddIndex(
            model_name='feedback',
            index=models.Index(fields=['kind', '-created_at'], name='chatkit_feedback_kind_created'),
        ),
        migrations.AddIndex(
            model_name='message',
            index=models.Index(condition=models.Q(('interrupted', True), ('role', 'assistant')), fields=['-created_at'], name='chatkit_message_interrupted'),
        ),
        migrations.AddIndex(
            model_name='modelusage',
            index=models.Index(condition=models.Q(('purpose', 'response'), models.Q(('error', ''), _negated=True), models.Q(('error', 'stopped'), _negated=True)), fields=['-created_at'], name='chatkit_usage_failed'),
        ),
        migrations.AddField(
            model_name='annotation',
            name='answer',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='annotations', to='chatkit_app.message'),
        ),
        migrations.AddField(
            model_name='annotation',
            name='author',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='chatkit_annotations', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='annotation',
            name='conversation',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='annotations', to='chatkit_app.conversation'),
        ),
        migrations.AddIndex(
            model_name='annotation',
            index=models.Index(fields=['label', '-updated_at'], name='chatkit_annotation_label'),
        ),
        migrations.AddConstraint(
            model_name='annotation',
            constraint=models.UniqueConstraint(fields=('answer', 'author'), name='chatkit_annotation_once_per_author'),
        ),
    ]
