"""Per-run event logs for ``GET /v1/runs/{id}/events``, fed by the execution tracker.

The server puts ``ServerTracker`` in front of the environment's tracker: every
event still reaches that tracker (jsonl, memory...), and events of runs the
server started are also appended to that run's ``EventLog``, which any number
of SSE streams read. A log keeps every event of its run, so a stream can start
from the beginning or after a ``Last-Event-ID`` at any time; the logs of the
newest ``keep`` finished runs stay in memory, and an older run's stream is
rebuilt from its stored steps (``stored_events``).

Events are kept as the tracker's objects and turned into JSON only when a
stream sends them: most runs are never watched.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Any

from agentmap.runtime import events as ev
from agentmap.runtime.checkpoint import StoredRun

__all__ = ["EventHub", "EventLog", "ServerTracker", "stored_events"]


class EventLog:
    """The events of one run (its subgraph runs' included), in order; ids are 1-based."""

    __slots__ = ("_changed", "closed", "events")

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.closed = False
        self._changed: asyncio.Event | None = None

    def append(self, event: Any) -> None:
        self.events.append(event)
        if self._changed is not None:
            self._changed.set()

    def close(self) -> None:
        self.closed = True
        if self._changed is not None:
            self._changed.set()

    async def follow(self, after: int = 0) -> AsyncIterator[tuple[int, dict[str, Any]]]:
        """(id, event dict) from id ``after + 1`` on, until the log is closed."""
        sent = max(0, after)
        while True:
            while sent < len(self.events):
                event = self.events[sent]
                sent += 1
                yield sent, _as_dict(event)
            if self.closed:
                return
            if self._changed is None:
                self._changed = asyncio.Event()
            self._changed.clear()
            if sent < len(self.events) or self.closed:
                continue
            await self._changed.wait()


class EventHub:
    """Run id -> ``EventLog`` for the runs this server started."""

    def __init__(self, keep: int = 1000) -> None:
        self.keep = keep
        self._live: dict[str, EventLog] = {}
        self._done: OrderedDict[str, EventLog] = OrderedDict()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self._loop_thread = loop, threading.get_ident()

    def open(self, run_id: str) -> EventLog:
        log = self._done.pop(run_id, None) or EventLog()
        log.closed = False
        self._live[run_id] = log
        return log

    def close(self, run_id: str, *final: Any) -> None:
        log = self._live.pop(run_id, None)
        if log is None:
            return
        for event in final:
            log.append(event)
        log.close()
        self._done[run_id] = log
        while len(self._done) > self.keep:
            self._done.popitem(last=False)

    def get(self, run_id: str) -> EventLog | None:
        return self._live.get(run_id) or self._done.get(run_id)

    def publish(self, event: Any) -> None:
        """Append ``event`` to its run's log (a subgraph run's goes to its top run's)."""
        if not self._live:
            return
        run_id: str = event.run_id
        log = self._live.get(run_id)
        if log is None and "/" in run_id:
            log = self._live.get(run_id.partition("/")[0])
        if log is None:
            return
        route = route_event(event)
        if self._loop is not None and threading.get_ident() != self._loop_thread:
            # An agent's worker thread (an LLM call's usage event): wake readers on the loop.
            self._loop.call_soon_threadsafe(log.append, event)
        else:
            log.append(event)
            if route is not None:
                log.append(route)


class ServerTracker:
    """The environment's tracker, plus the server's event logs and metrics."""

    def __init__(
        self, inner: Any, hub: EventHub, observe: Callable[[Any], None] | None = None
    ) -> None:
        self.inner = inner
        self.hub = hub
        self._observe = observe

    def record(self, event: Any) -> None:
        self.inner.record(event)
        if type(event) is ev.RunFinished and "/" not in event.run_id:
            # The top run's end is published by the run manager, after the
            # suspension (if any), so a stream's last event is always run_finished.
            if self._observe is not None:
                self._observe(event)
            return
        self.hub.publish(event)
        if self._observe is not None:
            self._observe(event)

    def flush(self) -> None:
        self.inner.flush()

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()

    def __getattr__(self, name: str) -> Any:
        # Tests and tools read the inner tracker's own API (MemoryTracker.events...).
        return getattr(self.inner, name)


def _as_dict(event: Any) -> dict[str, Any]:
    if isinstance(event, dict):
        return event
    data: dict[str, Any] = event.to_dict()
    return data


def route_event(event: Any) -> dict[str, Any] | None:
    """The ``route`` event a ``node_finished`` with a route implies (sent right after it)."""
    route = getattr(event, "route", None)
    if type(event) is not ev.NodeFinished or not route:
        return None
    return {
        "event": "route",
        "run_id": event.run_id,
        "graph": event.graph,
        "timestamp": event.timestamp,
        "node": event.node,
        "step": event.step,
        "targets": list(route),
    }


def stored_events(stored: StoredRun) -> list[dict[str, Any]]:
    """A finished run's event stream rebuilt from its stored steps (no live log kept)."""
    base = {"run_id": stored.run_id, "graph": stored.graph}
    events: list[dict[str, Any]] = [
        {**base, "event": "run_started", "timestamp": stored.created_at}
    ]
    for step in stored.steps:
        at = {**base, "node": step.node, "step": step.step}
        events.append({**at, "event": "node_started", "timestamp": step.started_at})
        end = step.started_at + step.duration
        if not step.ok:
            message = step.delta.get("error")
            events.append(
                {
                    **at,
                    "event": "node_failed",
                    "timestamp": end,
                    "attempt": step.attempts,
                    "error_type": "",
                    "message": str(message) if message is not None else "",
                }
            )
        events.append(
            {
                **at,
                "event": "node_finished",
                "timestamp": end,
                "duration": step.duration,
                "success": step.ok,
                "attempts": step.attempts,
                "route": list(step.route),
            }
        )
        if step.route:
            events.append({**at, "event": "route", "timestamp": end, "targets": list(step.route)})
    events.extend(closing_events(stored.run_id, stored.graph, stored.updated_at, stored))
    return events


def closing_events(
    run_id: str, graph: str, timestamp: float, run: Any, duration: float = 0.0
) -> list[dict[str, Any]]:
    """``run_suspended`` (when the run waits) and ``run_finished``, from a result or stored run."""
    base = {"run_id": run_id, "graph": graph, "timestamp": timestamp}
    out: list[dict[str, Any]] = []
    waiting = getattr(run, "waiting", None)
    if run.status == "suspended" and waiting is not None:
        out.append({**base, "event": "run_suspended", **waiting.to_dict()})
    if run.status != "running":
        out.append(
            {
                **base,
                "event": "run_finished",
                "status": run.status,
                "error": run.error,
                "duration": duration,
            }
        )
    return out
