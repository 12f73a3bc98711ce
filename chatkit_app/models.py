"""
Database models behind the ChatKit store.

A ChatKit thread is a ``Conversation``; every thread item of any type is a
``Message`` row holding the complete item as JSON (the source of truth, so
nothing the SDK defines is lost) plus denormalised columns for querying.
Primary keys are the SDK's own ids (``thr_…``, ``msg_…``): never hashed or
converted, so a row can be found from what the client shows.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Conversation(models.Model):
    """One ChatKit thread, owned by one user."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        LOCKED = "locked", "Locked"
        CLOSED = "closed", "Closed"

    id = models.CharField(primary_key=True, max_length=64, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="chatkit_conversations",
    )
    title = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.CharField(max_length=255, blank=True, default="")
    allowed_image_domains = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Last sequence number handed to an item of this thread; incremented under
    # the row lock so concurrent writers never share a number.
    item_sequence = models.PositiveBigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Serves the owner's thread list in both orders (a B-tree scans
            # either way) with keyset pagination on (created_at, id).
            models.Index(fields=["owner", "created_at", "id"], name="chatkit_conv_owner_created"),
            models.Index(fields=["updated_at"], name="chatkit_conv_updated"),
            models.Index(fields=["status", "updated_at"], name="chatkit_conv_status_updated"),
        ]

    def __str__(self) -> str:
        return self.title or self.id


class Message(models.Model):
    """One ChatKit thread item of any type (messages, widgets, tool calls, …)."""

    id = models.CharField(primary_key=True, max_length=64, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    sequence = models.PositiveBigIntegerField(editable=False)
    type = models.CharField(max_length=32, db_index=True)
    role = models.CharField(max_length=16, blank=True, default="")
    text = models.TextField(blank=True, default="")
    data = models.JSONField(help_text="The complete ChatKit thread item.")
    # Set when the stream producing this item was stopped before it finished.
    interrupted = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["conversation", "sequence"]
        constraints = [
            # Also the index that keyset pagination of a thread's items uses.
            models.UniqueConstraint(
                fields=["conversation", "sequence"], name="chatkit_message_conv_sequence"
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="chatkit_message_created")]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class Attachment(models.Model):
    """A file or image a user attached (or is uploading) to a conversation."""

    class Kind(models.TextChoices):
        FILE = "file", "File"
        IMAGE = "image", "Image"

    id = models.CharField(primary_key=True, max_length=64, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chatkit_attachments"
    )
    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="attachments",
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.FILE)
    name = models.CharField(max_length=255)
    mime_type = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(default=0)
    preview_url = models.TextField(blank=True, default="")
    file = models.FileField(upload_to="chatkit/attachments/%Y/%m/", blank=True, max_length=500)
    preview = models.FileField(upload_to="chatkit/previews/%Y/%m/", blank=True, max_length=500)
    data = models.JSONField(default=dict, help_text="The complete ChatKit attachment.")
    uploaded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "created_at"], name="chatkit_attach_owner_created"),
            models.Index(fields=["conversation", "created_at"], name="chatkit_attach_conv_created"),
        ]

    def __str__(self) -> str:
        return self.name


class ApiToken(models.Model):
    """A bearer token for API clients; only its SHA-256 digest is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chatkit_tokens"
    )
    name = models.CharField(max_length=100, blank=True, default="")
    prefix = models.CharField(
        max_length=16, db_index=True, help_text="First characters, for recognising a token."
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Feedback(models.Model):
    """A thumbs up or down a user gave an item."""

    class Kind(models.TextChoices):
        POSITIVE = "positive", "Positive"
        NEGATIVE = "negative", "Negative"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="feedback")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="feedback"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chatkit_feedback"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "feedback"
        constraints = [
            models.UniqueConstraint(
                fields=["message", "user"], name="chatkit_feedback_once_per_user"
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="chatkit_feedback_created")]

    def __str__(self) -> str:
        return f"{self.kind} on {self.message_id}"


class ModelUsage(models.Model):
    """Tokens and latency of one model response, for cost reporting."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.SET_NULL, null=True, blank=True, related_name="usage"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chatkit_usage"
    )
    message_id = models.CharField(max_length=64, blank=True, default="")
    provider = models.CharField(max_length=32, blank=True, default="")
    model = models.CharField(max_length=100)
    purpose = models.CharField(max_length=32, default="response")
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "model usage"
        verbose_name_plural = "model usage"
        indexes = [
            models.Index(fields=["created_at"], name="chatkit_usage_created"),
            models.Index(fields=["user", "created_at"], name="chatkit_usage_user_created"),
        ]

    def __str__(self) -> str:
        return f"{self.model}: {self.input_tokens}+{self.output_tokens} tokens"

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens
