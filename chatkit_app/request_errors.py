"""
Errors a client's request can cause, each with its HTTP status and code.

Raised anywhere below the view (server, responders, transcription); the
view turns them into ``{"error": {"code", "message"}}`` responses. The
message is shown to users, so it says what happened in plain words and
never carries secrets.
"""

from __future__ import annotations

from chatkit.types import ThreadMetadata


class ChatKitRequestError(Exception):
    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class ThreadNotActive(ChatKitRequestError):
    """The thread is locked or closed; it takes no new messages or actions."""

    status = 409

    def __init__(self, thread: ThreadMetadata):
        self.thread = thread
        reason = getattr(thread.status, "reason", None)
        message = f"This conversation is {thread.status.type}"
        super().__init__(
            f"{message}: {reason}" if reason else f"{message}.", code=f"thread_{thread.status.type}"
        )


class ModelNotAllowed(ChatKitRequestError):
    code = "model_not_allowed"

    def __init__(self, model: str, allowed: list[str]):
        super().__init__(
            f"The model {model!r} is not available here. Choose one of: {', '.join(allowed)}."
        )
