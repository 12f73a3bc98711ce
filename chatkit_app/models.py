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
from django.core.validators import MinValueValidator
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
    # A staff flag: the conversation waits in the review queue until unflagged
    # (``services.conversation_flag`` / ``conversation_unflag``).
    flagged_at = models.DateTimeField(null=True, blank=True, editable=False)
    flagged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    # With a database default too, so rows inserted by raw SQL (bulk loads,
    # the benchmark's seeding) need not name them.
    flag_reason = models.CharField(
        max_length=255, blank=True, default="", db_default="", editable=False
    )
    flag_note = models.TextField(blank=True, default="", db_default="", editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The review queue's flagged conversations, newest first: only
            # flagged rows are in it, so it stays tiny on a large table.
            models.Index(
                fields=["-flagged_at"],
                name="chatkit_conv_flagged",
                condition=models.Q(flagged_at__isnull=False),
            ),
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
        indexes = [
            models.Index(fields=["created_at"], name="chatkit_message_created"),
            # The review queue's interrupted answers (failed or stopped
            # streams), newest first: a small share of all items.
            models.Index(
                fields=["-created_at"],
                name="chatkit_message_interrupted",
                condition=models.Q(interrupted=True, role="assistant"),
            ),
        ]

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
        indexes = [
            models.Index(fields=["created_at"], name="chatkit_feedback_created"),
            # The review queue's thumbs-down answers, newest first.
            models.Index(fields=["kind", "-created_at"], name="chatkit_feedback_kind_created"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on {self.message_id}"


class ModelUsage(models.Model):
    """Tokens and latency of one model response, for cost reporting."""

    #: ``error`` of a reply the user stopped: billed (an estimate, the
    #: provider reports nothing), but not a failure.
    STOPPED = "stopped"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.SET_NULL, null=True, blank=True, related_name="usage"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chatkit_usage"
    )
    message_id = models.CharField(max_length=64, blank=True, default="")
    provider = models.CharField(max_length=32, blank=True, default="")
    model = models.CharField(max_length=100)
    # The assistant (``Assistant.name``) that answered; empty for calls no
    # assistant made (titles, transcription) and for rows recorded before.
    assistant = models.CharField(max_length=64, blank=True, default="")
    purpose = models.CharField(max_length=32, default="response")
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    # From the request to the end of the answer.
    latency_ms = models.PositiveIntegerField(default=0)
    # From the request to the first words the user saw (streamed answers
    # only): what "the assistant is slow" means to them.
    first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "model usage"
        verbose_name_plural = "model usage"
        indexes = [
            models.Index(fields=["created_at"], name="chatkit_usage_created"),
            models.Index(fields=["user", "created_at"], name="chatkit_usage_user_created"),
            # The answer's usage row, from its feedback (the dashboard).
            models.Index(fields=["message_id"], name="chatkit_usage_message"),
            # The review queue's failed answers, newest first (the condition
            # is ``failed()`` of an answer, as the queue's query writes it).
            models.Index(
                fields=["-created_at"],
                name="chatkit_usage_failed",
                condition=models.Q(purpose="response")
                & ~models.Q(error="")
                & ~models.Q(error="stopped"),
            ),
            # The usage list's "Failed" filter (every purpose), newest first
            # and counted from this index alone: one call in 50 fails, which
            # a scan of every call would find.
            models.Index(
                fields=["-created_at"],
                name="chatkit_usage_errors",
                condition=~models.Q(error="") & ~models.Q(error="stopped"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model}: {self.input_tokens}+{self.output_tokens} tokens"

    @classmethod
    def failed(cls) -> models.Q:
        """Rows of calls that failed (a stopped reply did not)."""
        return ~models.Q(error="") & ~models.Q(error=cls.STOPPED)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class Annotation(models.Model):
    """A staff member's review of one assistant answer: a label from
    ``CHATKIT_REVIEW_LABELS``, a note, and optionally the answer it should
    have been (``corrected_text``, which ``chatkit_export --format
    openai-jsonl --use-corrections`` puts in the original's place).

    One per answer and author: annotating again changes one's own."""

    answer = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="annotations")
    # The answer's conversation, so the queue, the transcript and the export
    # find a conversation's annotations without a join on its items.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="annotations"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="chatkit_annotations",
    )
    label = models.CharField(max_length=64)
    note = models.TextField(blank=True, default="")
    corrected_text = models.TextField(
        blank=True, default="", help_text="The answer it should have been (optional)."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["answer", "author"], name="chatkit_annotation_once_per_author"
            ),
        ]
        indexes = [
            models.Index(fields=["label", "-updated_at"], name="chatkit_annotation_label"),
        ]

    def __str__(self) -> str:
        return f"{self.label} on {self.answer_id}"


class UsageLimitsBase(models.Model):
    """Limits that replace the CHATKIT_LIMIT_* settings for a user or a group.

    Empty inherits (the user's groups, then the settings); 0 means no limit.
    Enforced by ``chatkit_app/limits/``."""

    requests_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests to /chatkit per minute. Empty: inherit; 0: none."
    )
    turns_per_day = models.PositiveIntegerField(
        null=True, blank=True, help_text="Messages answered per day (UTC). Empty: inherit; 0: none."
    )
    tokens_per_day = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Model tokens per day (UTC). Empty: inherit; 0: none."
    )
    cost_per_month = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Cost per calendar month, priced by CHATKIT_MODEL_PRICES. "
        "Empty: inherit; 0: none.",
    )
    exempt = models.BooleanField(default=False, help_text="No limits at all.")

    class Meta:
        abstract = True


class UserLimits(UsageLimitsBase):
    """One user's own limits; they win over their groups' and the settings."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chatkit_limits"
    )

    class Meta:
        verbose_name = "usage limits"
        verbose_name_plural = "usage limits"

    def __str__(self) -> str:
        return f"Limits of {self.user}"


class GroupLimits(UsageLimitsBase):
    """Limits for a group's members; a member of several gets the most generous."""

    group = models.OneToOneField(
        "auth.Group", on_delete=models.CASCADE, related_name="chatkit_limits"
    )

    class Meta:
        verbose_name = "usage limits"
        verbose_name_plural = "usage limits"

    def __str__(self) -> str:
        return f"Limits of group {self.group}"


class UsageCounter(models.Model):
    """What one user used of one limit in its current period (a minute, a
    UTC day, a calendar month), shared by every server process.

    One row per user and kind: a write in a new period starts it again from
    zero (``period_start`` moves on), so there is nothing to prune. Updated
    only with conditional ``UPDATE``s, which the database applies one at a
    time per row."""

    class Kind(models.TextChoices):
        REQUESTS = "requests", "Requests per minute"
        TURNS = "turns", "Messages per day"
        TOKENS = "tokens", "Tokens per day"
        COST = "cost", "Cost per month"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chatkit_usage_counters"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    period_start = models.DateTimeField()
    # Cost in millionths of the currency of CHATKIT_MODEL_PRICES.
    used = models.PositiveBigIntegerField(default=0)
    # A turn in flight holds a token or cost budget until it ends (or this
    # time passes, should its process die), so concurrent turns cannot
    # overspend it.
    busy_until = models.DateTimeField(null=True, blank=True)
    # The user was told they are near this limit, in this period.
    notified = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "kind"], name="chatkit_usage_counter_user_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.kind}: {self.used}"


class Handoff(models.Model):
    """Whether a person answers a conversation instead of the assistant.

    One row per conversation that ever asked for a person or was taken over
    (``handoff/`` writes it). ``state`` is what holds now; the times and
    people say how it got there. While ``taken_over``, the assistant does
    not answer that thread."""

    class State(models.TextChoices):
        REQUESTED = "requested", "A person was asked for"
        TAKEN_OVER = "taken_over", "A person is answering"
        HANDED_BACK = "handed_back", "Handed back to the assistant"

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, primary_key=True, related_name="handoff"
    )
    state = models.CharField(max_length=16, choices=State.choices)
    requested_at = models.DateTimeField(null=True, blank=True)
    request_reason = models.CharField(max_length=255, blank=True, default="")
    taken_over_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="chatkit_handoffs",
    )
    taken_over_at = models.DateTimeField(null=True, blank=True)
    handed_back_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # Open requests, oldest first (the review queue, the activity feed).
            models.Index(fields=["state", "requested_at"], name="chatkit_handoff_state_req"),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}: {self.state}"


class ReplyRun(models.Model):
    """A reply being written by the server (``chatkit_app/runs/``), which
    outlives the request that started it.

    While it runs, its process writes ``heartbeat_at`` (and the text written
    so far, ``partial``) every few seconds. A run whose heartbeat stopped
    belongs to a process that died: it is recovered (the partial kept,
    marked interrupted), so no thread shows a reply as pending for good.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        STOPPED = "stopped", "Stopped"
        INTERRUPTED = "interrupted", "Interrupted (process gone)"

    id = models.CharField(primary_key=True, max_length=64, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="reply_runs"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chatkit_reply_runs"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    # Why it ended when not done: stop, disconnect, timeout, limit, crash.
    reason = models.CharField(max_length=32, blank=True, default="")
    # Nobody is reading it any more: it counts as a background run.
    detached = models.BooleanField(default=False)
    # Asked to stop from a process other than its own (read at heartbeat).
    stop_requested = models.BooleanField(default=False)
    # "host:pid" of the process writing it.
    process = models.CharField(max_length=128, blank=True, default="")
    # The assistant items still being written, as JSON, at the last heartbeat.
    partial = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"], name="chatkit_run_status_beat"),
            models.Index(fields=["conversation", "status"], name="chatkit_run_conv_status"),
            models.Index(fields=["owner", "status"], name="chatkit_run_owner_status"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"


# The dashboard's rollups, kept by database triggers (their own module).
from .rollups import ActiveUserDay, LatencyRollup, RollupDay, UsageRollup  # noqa: E402, F401
