"""
What a user is told when the model provider fails.

Messages are readable and never include the provider's raw error text,
which can echo keys, internal ids or the prompt. The full exception goes to
the log with the thread id instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import openai
from agents.exceptions import MaxTurnsExceeded, ModelBehaviorError


@dataclass(frozen=True)
class ProviderFailure:
    message: str
    allow_retry: bool
    kind: str  # short label for logs and the usage table


def describe_failure(exc: BaseException) -> ProviderFailure:
    match exc:
        case openai.AuthenticationError() | openai.PermissionDeniedError():
            return ProviderFailure(
                "The model provider rejected this site's API key. "
                "Please tell the site's administrator.",
                allow_retry=False,
                kind="auth",
            )
        case openai.RateLimitError():
            return ProviderFailure(
                "The model provider is receiving too many requests right now. "
                "Please try again in a moment.",
                allow_retry=True,
                kind="rate_limit",
            )
        case openai.APITimeoutError():
            return ProviderFailure(
                "The model provider took too long to answer. Please try again.",
                allow_retry=True,
                kind="timeout",
            )
        case openai.APIConnectionError():
            return ProviderFailure(
                "The connection to the model provider was lost before the answer was "
                "complete. Please try again.",
                allow_retry=True,
                kind="connection",
            )
        case openai.NotFoundError():
            return ProviderFailure(
                "The model provider does not know the configured model. "
                "Please tell the site's administrator.",
                allow_retry=False,
                kind="model_not_found",
            )
        case openai.BadRequestError():
            return ProviderFailure(
                "The model provider could not process this conversation.",
                allow_retry=False,
                kind="bad_request",
            )
        case openai.APIStatusError() if exc.status_code >= 500:
            return ProviderFailure(
                "The model provider had an internal error. Please try again.",
                allow_retry=True,
                kind="server_error",
            )
        case openai.APIError() | ModelBehaviorError():
            return ProviderFailure(
                "The model provider sent an answer that could not be read. Please try again.",
                allow_retry=True,
                kind="bad_response",
            )
        case MaxTurnsExceeded():
            return ProviderFailure(
                "The assistant needed too many steps and stopped. Try a simpler request.",
                allow_retry=True,
                kind="max_turns",
            )
    return ProviderFailure(
        "Something went wrong while writing the answer. Please try again.",
        allow_retry=True,
        kind="error",
    )
