"""An execution tracker that turns run events into OpenTelemetry spans (``agentmap[otel]``).

One span per run, per node execution and per LLM call, built as the events
arrive (``record``): a node span starts at ``node_started`` and ends at
``node_finished``, so what runs inside the node (its LLM calls, a subgraph's
run) is nested under it, and nodes of parallel branches are siblings under
the run span. Spans take their start and end times from the events'
timestamps, so they show the true durations whatever the exporter does. LLM
spans follow the GenAI semantic conventions (``chat {model}``,
``gen_ai.request.model``, ``gen_ai.usage.input_tokens``...). docs/tracing.md
lists every span and attribute.

Events carry names, numbers and error messages, never prompts or state
values, so spans hold none either. ``tracking.capture_content`` is the switch
reserved for content attributes (prompts, replies): it is off by default and,
as no event carries content yet, it changes nothing today.

opentelemetry is imported here only, and only when a tracker is built; the
context is never attached (no ``use_span``): each span's parent is given
explicitly, which is cheaper and keeps the application's own current span
untouched.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from agentmap.errors import ConfigurationError, MissingExtraError
from agentmap.runtime import events as ev

if TYPE_CHECKING:
    from agentmap.settings import TrackingSettings

__all__ = ["OtelTracker", "provider_from_environment"]

_log = logging.getLogger("agentmap.tracking.otel")

_EXTRA = ("opentelemetry-sdk", "otel", "The otel tracking backend")


def _ns(timestamp: float) -> int:
    return int(timestamp * 1e9)


class _Node:
    """A node execution under way; its span is made when first needed (see ``_open``)."""

    __slots__ = ("context", "name", "span", "start", "step")

    def __init__(self, name: str, step: int, start: int) -> None:
        self.name = name
        self.step = step
        self.start = start
        self.span: Any = None
        self.context: Any = None


class _Run:
    """A run's span, the context its children start in, and its nodes under way."""

    __slots__ = ("context", "nodes", "span")

    def __init__(self, span: Any, context: Any) -> None:
        self.span = span
        self.context = context
        #: step -> the node execution of that step, until its node_finished.
        self.nodes: dict[int, _Node] = {}


class OtelTracker:
    """Builds spans from run events with ``tracer_provider`` (tests pass an in-memory one).

    ``from_settings`` is how the container builds it: the application's global
    SDK provider if there is one, else a provider of its own configured by the
    ``OTEL_*`` environment variables (``provider_from_environment``).
    """

    def __init__(
        self,
        tracer_provider: Any,
        *,
        capture_content: bool = False,
        owns_provider: bool = False,
    ) -> None:
        try:
            from opentelemetry import trace
            from opentelemetry.context import Context
            from opentelemetry.trace import SpanKind, Status, StatusCode
        except ImportError:
            raise MissingExtraError(*_EXTRA) from None
        from agentmap import __version__

        self.provider = tracer_provider
        #: Reserved for content attributes (prompts, replies); no event carries content yet.
        self.capture_content = capture_content
        self._owns_provider = owns_provider
        self._tracer = tracer_provider.get_tracer("agentmap", __version__)
        self._in_span = trace.set_span_in_context
        self._new_trace = Context()  # a parent context with no span: a root span
        self._client = SpanKind.CLIENT
        self._error = StatusCode.ERROR
        self._status = Status
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()
        self._handlers: dict[type, Any] = {
            ev.RunStarted: self._run_started,
            ev.RunFinished: self._run_finished,
            ev.NodeStarted: self._node_started,
            ev.NodeFinished: self._node_finished,
            ev.NodeFailed: self._node_failed,
            ev.NodeRetried: self._node_retried,
            ev.LLMCalled: self._llm_called,
        }

    @classmethod
    def from_settings(cls, settings: TrackingSettings) -> OtelTracker:
        try:
            from opentelemetry import trace
            from opentelemetry.sdk.trace import TracerProvider
        except ImportError:
            raise MissingExtraError(*_EXTRA) from None
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):  # the application set one up: use it
            return cls(current, capture_content=settings.capture_content)
        provider = provider_from_environment(settings.service_name)
        return cls(provider, capture_content=settings.capture_content, owns_provider=True)

    # ------------------------------------------------------------------ the protocol

    def record(self, event: Any) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            # A sync agent reports its LLM calls from a worker thread while the
            # loop's thread records other nodes' events.
            with self._lock:
                handler(event)

    def flush(self) -> None:
        """Nothing to do: each span goes to the span processor as it ends.

        The runner calls ``flush`` at the end of every run; forcing the
        processor's export there would hold the run until the collector answers.
        """

    def close(self) -> None:
        """End spans still open (their run never finished), then export what is pending."""
        with self._lock:
            self._end_all()
        self.provider.force_flush()
        if self._owns_provider:
            self.provider.shutdown()

    def _end_all(self) -> None:
        for run in list(self._runs.values()):
            self._end_nodes(run, None, "the tracker closed before the node finished")
            run.span.set_status(
                self._status(self._error, "the tracker closed before the run finished")
            )
            run.span.end()
        self._runs.clear()

    # ------------------------------------------------------------------ events

    def _run_started(self, event: ev.RunStarted) -> None:
        attributes: dict[str, Any] = {
            "agentmap.run_id": event.run_id,
            "agentmap.graph": event.graph,
            "agentmap.entry": event.entry,
        }
        parent_context = None  # the caller's current span, if any (a server request, ...)
        if event.parent_run_id is not None:
            attributes["agentmap.parent_run_id"] = event.parent_run_id
            parent_context = self._parent_of_subgraph(event.parent_run_id, event.parent_node)
        else:
            batch = ev.current_batch.get()
            if batch is not None:
                # Each row is a trace of its own: never under the caller's span.
                attributes["agentmap.batch_id"], attributes["agentmap.batch_row"] = batch
                parent_context = self._new_trace
        span = self._tracer.start_span(
            f"run {event.graph}",
            context=parent_context,
            attributes=attributes,
            start_time=_ns(event.timestamp),
        )
        self._runs[event.run_id] = _Run(span, self._in_span(span))

    def _parent_of_subgraph(self, run_id: str, node: str | None) -> Any:
        run = self._runs.get(run_id)
        return None if run is None else self._context_of(run, node)

    def _context_of(self, run: _Run, node: str | None) -> Any:
        """The context for a child of ``node`` (its latest execution under way), else of the run."""
        for execution in reversed(run.nodes.values()):
            if execution.name == node:
                return self._open(run, execution).context
        return run.context

    def _open(self, run: _Run, node: _Node) -> _Node:
        """Start ``node``'s span now, back-dated to its node_started.

        Most nodes have no child span, no failure and no retry: their span is
        made at node_finished, in one call with every attribute, which halves
        the tracker's cost per node (no context, no second attribute update).
        """
        if node.span is None:
            node.span = self._tracer.start_span(
                f"node {node.name}",
                context=run.context,
                attributes={"agentmap.node": node.name, "agentmap.step": node.step},
                start_time=node.start,
            )
            node.context = self._in_span(node.span)
        return node

    def _run_finished(self, event: ev.RunFinished) -> None:
        run = self._runs.pop(event.run_id, None)
        if run is None:
            return
        # A suspended run stops at the node that waits for input: not an error.
        why = None if event.status == "suspended" else "the run ended before the node finished"
        self._end_nodes(run, event.timestamp, why)
        span = run.span
        span.set_attribute("agentmap.status", event.status)
        span.set_attribute("agentmap.steps", event.steps)
        if event.status == "failed":
            span.set_status(self._status(self._error, event.error))
        span.end(_ns(event.timestamp))

    def _end_nodes(self, run: _Run, timestamp: float | None, why: str | None) -> None:
        """End node spans the run left open: as errors (``why``), or not (a suspended run)."""
        end = None if timestamp is None else _ns(timestamp)
        for node in run.nodes.values():
            span = self._open(run, node).span
            if why is None:
                span.set_attribute("agentmap.suspended", True)
            else:
                span.set_status(self._status(self._error, why))
            span.end(end)
        run.nodes.clear()

    def _node_started(self, event: ev.NodeStarted) -> None:
        run = self._runs.get(event.run_id)
        if run is None:
            return
        run.nodes[event.step] = _Node(event.node, event.step, _ns(event.timestamp))

    def _node_finished(self, event: ev.NodeFinished) -> None:
        run = self._runs.get(event.run_id)
        node = run.nodes.pop(event.step, None) if run is not None else None
        if node is None or run is None:
            return
        span = node.span
        if span is None:
            # The common case: no child span and no failed attempt (each would
            # have opened the span), so a single attempt.
            span = self._tracer.start_span(
                f"node {event.node}",
                context=run.context,
                attributes={
                    "agentmap.node": event.node,
                    "agentmap.step": event.step,
                    "agentmap.success": event.success,
                    "agentmap.route": event.route,
                },
                start_time=node.start,
            )
        else:
            attributes = {"agentmap.success": event.success, "agentmap.route": event.route}
            if event.attempts > 1:
                attributes["agentmap.attempts"] = event.attempts
            span.set_attributes(attributes)
        if not event.success:
            span.set_status(self._status(self._error, f"node {event.node!r} failed"))
        span.end(_ns(event.timestamp))

    def _node_span(self, run_id: str, step: int) -> Any:
        run = self._runs.get(run_id)
        node = run.nodes.get(step) if run is not None else None
        return None if node is None or run is None else self._open(run, node).span

    def _node_failed(self, event: ev.NodeFailed) -> None:
        span = self._node_span(event.run_id, event.step)
        if span is None:
            return
        # The semantic conventions' exception event; the exception object itself
        # stays in the agent (events carry its type and message only).
        span.add_event(
            "exception",
            {
                "exception.type": event.error_type,
                "exception.message": event.message,
                "agentmap.attempt": event.attempt,
            },
            _ns(event.timestamp),
        )

    def _node_retried(self, event: ev.NodeRetried) -> None:
        span = self._node_span(event.run_id, event.step)
        if span is not None:
            span.add_event(
                "retry",
                {"agentmap.attempt": event.attempt, "agentmap.delay": event.delay},
                _ns(event.timestamp),
            )

    def _llm_called(self, event: ev.LLMCalled) -> None:
        run = self._runs.get(event.run_id)
        if run is None:
            return
        context = self._context_of(run, event.node)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": event.model,
            "gen_ai.usage.input_tokens": event.prompt_tokens,
            "gen_ai.usage.output_tokens": event.completion_tokens,
            "agentmap.node": event.node,
            "agentmap.cached": event.cached,
        }
        if event.provider:
            # gen_ai.provider.name is the current name; gen_ai.system the one many
            # backends still read.
            attributes["gen_ai.provider.name"] = attributes["gen_ai.system"] = event.provider
        if event.cost is not None:
            attributes["agentmap.cost"] = event.cost
        end = _ns(event.timestamp)
        span = self._tracer.start_span(
            f"chat {event.model}",
            context=context,
            kind=self._client,
            attributes=attributes,
            start_time=end - int(event.latency * 1e9),
        )
        span.end(end)


def provider_from_environment(service_name: str) -> Any:
    """A TracerProvider named ``OTEL_SERVICE_NAME`` (else ``service_name``), exporting per ``OTEL_*``.

    The exporter is chosen by ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``
    or ``none``); unset, it is ``otlp`` when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set, else ``none``. The OTLP
    exporter (HTTP/protobuf) reads its endpoint, headers, timeout and
    compression from the standard variables itself.
    """
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        raise MissingExtraError(*_EXTRA) from None
    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    chosen = os.environ.get("OTEL_TRACES_EXPORTER") or ("otlp" if endpoint else "none")
    for exporter in (part.strip() for part in chosen.split(",")):
        if exporter == "otlp":
            provider.add_span_processor(BatchSpanProcessor(_otlp_exporter()))
        elif exporter == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        elif exporter != "none":
            raise ConfigurationError(
                f"OTEL_TRACES_EXPORTER={chosen!r}: the otel tracking backend exports with "
                "'otlp' (HTTP/protobuf), 'console' or 'none'"
            )
    if chosen == "none":
        _log.warning(
            "tracking.backend is otel but no exporter is configured, so spans go nowhere: "
            "set OTEL_EXPORTER_OTLP_ENDPOINT (see docs/tracing.md)"
        )
    return provider


def _otlp_exporter() -> Any:
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol != "http/protobuf":
        raise ConfigurationError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: the otel tracking backend sends "
            "OTLP over HTTP/protobuf only (port 4318); unset it or set http/protobuf"
        )
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise MissingExtraError("opentelemetry-exporter-otlp-proto-http", *_EXTRA[1:]) from None
    return OTLPSpanExporter()
