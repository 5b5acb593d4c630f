"""The errors every LLM backend raises: one small hierarchy, whatever the client underneath.

A failed LLM call raises a subclass of ``LLMError``, from the litellm backend,
the ``openai_http`` backend and (when a test scripts one) the fake backend
alike, so a workflow, a node's ``retry_on`` or a batch's error report never
needs to know which client made the call. Each backend maps its client's
exceptions with one table in its own module, the way httpx maps httpcore's.

=========================  ==========  ==============================================
class                      retryable   when
=========================  ==========  ==============================================
``LLMRateLimitError``      yes         429; ``retry_after`` is what the provider asked
``LLMTimeoutError``        yes         no reply within ``llm.timeout`` (or a 408)
``LLMConnectionError``     yes         refused, reset or closed connection, DNS, TLS
``LLMAuthenticationError`` no          401 / 403: the key is wrong or lacks permission
``LLMBadRequestError``     no          other 4xx: the request itself (unknown model,
                                       context too long, bad parameter, ...)
``LLMProviderError``       yes         everything else: 5xx, a reply that is not a
                                       chat completion, an error the map does not know
=========================  ==========  ==============================================

``retryable`` is a class attribute: whether repeating the same request may
succeed. Node retries use it (a bad request or a wrong key fails at once);
the backends' own retry loops follow the same split, except that they never
repeat a 200 whose body was unusable (the provider answered, and may have
charged). ``LLMProviderError`` is kept as the name of the generic class (it was
the one class of ``openai_http`` before), so ``except LLMProviderError`` still
catches the 5xx and malformed replies it caught; catch ``LLMError`` for all.

Every error keeps the provider's own message (``message``), the ``model`` that
was asked and the HTTP ``status`` (None for a timeout or a connection error),
and the client's exception as ``__cause__``. The text never holds the API key
or the request's messages. They pickle (a Dask worker sends its exceptions
back pickled); the ``__cause__`` stays behind, since a client's exception may
not pickle.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "LLMAuthenticationError",
    "LLMBadRequestError",
    "LLMConnectionError",
    "LLMError",
    "LLMProviderError",
    "LLMRateLimitError",
    "LLMTimeoutError",
]


class LLMError(Exception):
    """A failed LLM call, after the backend's own retries and fallbacks.

    ``model`` is the model that was asked, ``message`` the provider's
    explanation (from its JSON error body when it sent one), ``status`` the
    HTTP status (None when there was no reply; 200 for a reply whose body was
    unusable).
    """

    #: Whether repeating the same request may succeed (node retries read this).
    retryable: ClassVar[bool] = False
    #: Seconds the provider asked to wait before a retry (set by ``LLMRateLimitError``).
    retry_after: float | None = None

    def __init__(self, model: str, message: str, *, status: int | None = None) -> None:
        self.model = model
        self.message = message
        self.status = status
        where = f"HTTP {status}" if status is not None else "no HTTP status"
        super().__init__(f"LLM request to model {model!r} failed ({where}): {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments: the default pickling (``cls(*args)``) cannot rebuild it.
        return (_rebuild, (type(self), self.model, self.message, self.status, self.retry_after))

    def with_message(self, message: str) -> LLMError:
        """The same error (class, model, status, ``retry_after``) saying ``message`` instead."""
        return _rebuild(type(self), self.model, message, self.status, self.retry_after)


class LLMRateLimitError(LLMError):
    """HTTP 429: too many requests or tokens; ``retry_after`` seconds when the provider said."""

    retryable = True

    def __init__(
        self,
        model: str,
        message: str,
        *,
        status: int | None = 429,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(model, message, status=status)
        self.retry_after = retry_after


class LLMTimeoutError(LLMError):
    """No reply within the timeout (``llm.timeout``), or the provider's own 408."""

    retryable = True


class LLMConnectionError(LLMError):
    """The request did not get an HTTP reply: refused, reset or closed connection, DNS, TLS."""

    retryable = True


class LLMAuthenticationError(LLMError):
    """HTTP 401 or 403: the API key is missing, wrong, or not allowed this model."""

    retryable = False


class LLMBadRequestError(LLMError):
    """A 4xx about the request itself: unknown model, context too long, invalid parameter."""

    retryable = False


class LLMProviderError(LLMError):
    """Everything else: a 5xx, a reply that is not a chat completion, an unknown failure."""

    retryable = True


def _rebuild(
    cls: type[LLMError], model: str, message: str, status: int | None, retry_after: float | None
) -> LLMError:
    error = cls.__new__(cls)
    LLMError.__init__(error, model, message, status=status)
    if retry_after is not None:
        error.retry_after = retry_after
    return error
