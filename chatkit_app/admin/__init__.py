"""
The staff admin of chatkit_app, built for tables with millions of rows.

Django's admin autodiscovers this package; importing it registers the
model admins, one module per group of pages:

- ``conversations``: the conversation list and page (with
  ``conversation_actions`` and the page's ``transcript``), and the live
  watch and activity pages (``live``);
- ``records``: items, feedback, model usage and attachments, read-only;
- ``review``: the review queue, annotating an answer, flagging a
  conversation, and the list of annotations;
- ``tokens``: API tokens;
- ``limits``: usage limits, inline on the user and group pages (which also
  show a user's usage against them), and the usage counters;
- ``options``, ``filters``, ``paginator``: what they share.

Conversation data is changed only through ``services`` (status, deletion
with attachment files), and every change lands in the admin log.
"""

from django.contrib import admin

from ..models import (
    Annotation,
    ApiToken,
    Attachment,
    Conversation,
    Feedback,
    Message,
    ModelUsage,
    UsageCounter,
)
from .conversations import ConversationAdmin
from .limits import UsageCounterAdmin, register_inlines
from .records import AttachmentAdmin, FeedbackAdmin, MessageAdmin, ModelUsageAdmin
from .review import AnnotationAdmin
from .tokens import ApiTokenAdmin

admin.site.register(Conversation, ConversationAdmin)
admin.site.register(Message, MessageAdmin)
admin.site.register(Feedback, FeedbackAdmin)
admin.site.register(ModelUsage, ModelUsageAdmin)
admin.site.register(Attachment, AttachmentAdmin)
admin.site.register(Annotation, AnnotationAdmin)
admin.site.register(ApiToken, ApiTokenAdmin)
admin.site.register(UsageCounter, UsageCounterAdmin)
register_inlines(admin.site)

__all__ = [
    "AnnotationAdmin",
    "ApiTokenAdmin",
    "AttachmentAdmin",
    "ConversationAdmin",
    "FeedbackAdmin",
    "MessageAdmin",
    "ModelUsageAdmin",
    "UsageCounterAdmin",
]
