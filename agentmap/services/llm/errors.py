"""Errors of LLM backends that are not a user's mistake: the provider said no, or said nothing.

Kept apart from the backends so code can catch them without importing one
(and its HTTP client). The litellm backend raises litellm's own exceptions;
the ``openai_http`` backend raises ``LLMProviderError``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LLMProviderError"]


class LLMProviderError(Exception):
    """An LLM request that failed at the provider's end, after any retries and fallbacks.

    ``status`` is the HTTP status (None for a timeout or a connection error;
    200 for a reply whose body was unusable), ``model`` the model that was
    asked, and ``message`` the provider's own explanation (from its JSON error
    body when it sent one). The text never holds the API key or the request's
    messages.
    """

    def __init__(
        self,
        model: str,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.model = model
        self.message = message
        self.status = status
        #: Whether repeating the same request may succeed (429, 5xx, timeout, connection).
        self.retryable = retryable
        #: Seconds the provider asked us to wait (``Retry-After``), when it said.
        self.retry_after = retry_after
        where = f"HTTP {status}" if status is not None else "no HTTP status"
        super().__init__(f"LLM request to model {model!r} failed ({where}): {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments: the default pickling (``cls(*args)``) cannot rebuild it,
        # and a Dask worker sends its exceptions back to the client pickled.
        return (
            _rebuild,
            (type(self), self.model, self.message, self.status, self.retryable, self.retry_after),
        )


def _rebuild(
    cls: type[LLMProviderError],
    model: str,
    message: str,
    status: int | None,
    retryable: bool,
    retry_after: float | None,
) -> LLMProviderError:
    return cls(model, message, status=status, retryable=retryable, retry_after=retry_after)
