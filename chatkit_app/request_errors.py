"""
Errors a client's request can cause, each with its HTTP status and code.

Raised anywhere below the view (server, responders, transcription); the
view turns them into ``{"error": {"code", "message"}}`` responses. The
message is shown to users, so it says what happened in plain words and
never carries secrets.

``ClientErrorsAreNotCrashes`` keeps them (and the store's ``NotFoundError``)
out of the error log when the SDK meets them inside a stream.
"""

from __future__ import annotations

import logging

from chatkit.store import NotFoundError
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

    def headers(self) -> dict[str, str]:
        """HTTP headers the error response carries (``Retry_After`` style names)."""
        return {}


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


class LimitReached(ChatKitRequestError):
    """The user used up one of their usage limits (or a reply of theirs
    still holds a budget). In a stream it becomes an ``error`` event; a
    request that does not stream gets 429 with Retry-After."""

    status = 429
    code = "limit_reached"

    def __init__(self, message: str, *, limit: str, retry_after: int, code: str | None = None):
        super().__init__(message, code=code)
        self.limit = limit
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry_After": str(self.retry_after)}


class ClientErrorsAreNotCrashes(logging.Filter):
    """On the SDK's ``chatkit`` logger: a client's mistake is not a crash.

    The SDK logs every exception raised in a stream with
    ``logger.exception`` (ERROR, with a traceback), a 404 for a thread the
    caller may not see included. The server checks what it can before
    anything streams (so those are plain 404 responses, logged by Django as
    warnings); what can only surface mid-stream (a conversation deleted
    while its reply is written) becomes one INFO line without a traceback.
    """

    CLIENT_ERRORS: tuple[type[BaseException], ...] = (NotFoundError, ChatKitRequestError)

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, self.CLIENT_ERRORS):
            return True
        message, detail = record.getMessage(), f"{type(error).__name__}: {error}"
        record.msg = "%s (a client's request, not a crash)"
        record.args = (detail if message == str(error) else f"{message}: {detail}",)
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.exc_info = record.exc_text = record.stack_info = None
        # The logger let the record through as an ERROR; as INFO it must
        # pass the logger's level again.
        return logging.getLogger(record.name).isEnabledFor(logging.INFO)


def quiet_client_errors(logger_name: str = "chatkit") -> None:
    """Install ``ClientErrorsAreNotCrashes`` on the SDK's logger (once)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, ClientErrorsAreNotCrashes) for f in logger.filters):
        logger.addFilter(ClientErrorsAreNotCrashes())
