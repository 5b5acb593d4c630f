"""Server-Sent Events for the run and batch streams: where a stream starts, how it is sent.

Both streams are an ``EventLog`` (or a replay of stored steps) read from an
event id on: ``Last-Event-ID`` (what a browser's EventSource sends when it
reconnects) or ``?last_event_id=N`` (what a client that cannot set headers
sends). Each message carries the event's kind and its number as the SSE id.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent

from agentmap.server.problems import FieldError, ProblemError

__all__ = ["Numbered", "event_stream", "first_event"]

#: (event id, event as JSON-ready dict), ids 1-based and consecutive.
Numbered = AsyncIterator[tuple[int, dict[str, Any]]]


def first_event(header: str | None, query: int | None) -> int:
    """The id after which a stream starts (0: from the first event)."""
    if query is not None:
        return query
    if header is None:
        return 0
    try:
        return max(0, int(header))
    except ValueError:
        raise ProblemError(
            422,
            "invalid-request",
            "Last-Event-ID must be the id of an event of this stream (a number)",
            [FieldError("Last-Event-ID", f"not an event id: {header!r}")],
        ) from None


def event_stream(events: Numbered) -> EventSourceResponse:
    return EventSourceResponse(_messages(events))


async def _messages(events: Numbered) -> AsyncIterator[ServerSentEvent]:
    async for number, event in events:
        yield ServerSentEvent(
            data=json.dumps(event, default=str), event=event["event"], id=str(number)
        )
